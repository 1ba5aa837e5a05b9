//! karajan's one integration test binary. Each area is a module.
mod linear;
