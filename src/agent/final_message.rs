//! The agent's final message: the last thing it said in words, kept per run.
//!
//! A reviewer that cannot write files in its sandbox gives its verdict as the last
//! fenced `json` block of its final message (see `domain::verdict`). Each CLI says it
//! differently: Claude's `result.result` (and its assistant text blocks), Codex's last
//! completed `agent_message`, Gemini's assistant `message` deltas since the last tool
//! call, a `command` runner's plain stdout lines. The parsers feed this accumulator;
//! only the tail is kept (a verdict block comes last), so a chatty agent costs at most
//! [`MAX_BYTES`] of memory.

/// The longest final message kept, in bytes (its tail).
pub const MAX_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinalMessage {
    text: String,
    /// Something other than the agent's words happened since (a tool call): the next
    /// words start a new message.
    ended: bool,
}

impl FinalMessage {
    /// A whole new message replaces the previous one.
    pub fn said(&mut self, text: &str) {
        self.text.clear();
        self.ended = false;
        self.push(text);
    }

    /// A chunk of the current message (streamed deltas); after [`Self::interrupted`], the
    /// chunk starts a new message.
    pub fn continued(&mut self, chunk: &str) {
        if self.ended {
            self.text.clear();
            self.ended = false;
        }
        self.push(chunk);
    }

    /// The agent did something else (a tool call): its next words are a new message.
    pub fn interrupted(&mut self) {
        self.ended = true;
    }

    pub fn text(&self) -> Option<&str> {
        Some(self.text.as_str()).filter(|t| !t.trim().is_empty())
    }

    fn push(&mut self, text: &str) {
        self.text.push_str(text);
        if self.text.len() > MAX_BYTES {
            let mut cut = self.text.len() - MAX_BYTES;
            while !self.text.is_char_boundary(cut) {
                cut += 1;
            }
            self.text.drain(..cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_join_until_a_tool_call_and_a_whole_message_replaces() {
        let mut m = FinalMessage::default();
        assert_eq!(m.text(), None);
        m.continued("Writing ");
        m.continued("file1.");
        assert_eq!(m.text(), Some("Writing file1."));
        m.interrupted();
        m.continued("Done.");
        assert_eq!(m.text(), Some("Done."));
        m.said("Final.");
        assert_eq!(m.text(), Some("Final."));
    }

    #[test]
    fn only_the_tail_is_kept_on_a_char_boundary() {
        let mut m = FinalMessage::default();
        m.said(&"é".repeat(MAX_BYTES));
        m.continued("```json\n{}\n```");
        let t = m.text().unwrap();
        assert!(t.len() <= MAX_BYTES && t.ends_with("```json\n{}\n```"));
    }
}
