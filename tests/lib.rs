//! karajan's one integration test binary. Each area is a module.

mod agent;
mod bench_order;
mod cluster;
mod conformance;
mod e2e;
mod engine;
mod github;
mod linear;
mod pg;
mod realcli;
mod runners;
mod store;
mod web;
mod workspace;
