//! The full-screen view of `karajan top` (ratatui on crossterm): the frame's sections
//! with one ticket selected, a footer with the keys and the last action's answer, and
//! an optional pane with the selected ticket's latest agent output.
//!
//! Keys: ↑/↓ (or k/j) select; `a` approve and `r` rework (type the feedback, Enter
//! sends, Esc cancels) the selected ticket at a gate; `p` pauses or resumes dispatch;
//! `l` opens or closes the selected ticket's log; `f` asks for a refresh; `q` or Esc
//! quits. Actions go through the daemon as `karajan approve` etc. do.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::Snapshot;
use crate::cli::Exit;
use crate::cli::act::{Action, actor, perform};
use crate::cli::daemon::Daemon;
use crate::redact::Redactor;

/// Lines of agent output the log pane shows.
const LOG_LINES: usize = 12;

enum Mode {
    Browse,
    /// Typing rework feedback for this ticket.
    Rework {
        ticket: String,
        input: String,
    },
}

struct App {
    snap: Option<Snapshot>,
    selected: usize,
    mode: Mode,
    message: String,
    /// The ticket whose log is shown.
    log: Option<String>,
    log_lines: Vec<String>,
}

impl App {
    /// The rows a key can act on: (ticket, at a gate), in display order.
    fn selectable(&self) -> Vec<(String, bool)> {
        self.snap
            .iter()
            .flat_map(|s| s.sections.iter().take(4))
            .flat_map(|s| s.rows.iter())
            .filter_map(|r| r.ticket.clone().map(|t| (t, r.at_gate)))
            .collect()
    }

    fn current(&self) -> Option<(String, bool)> {
        self.selectable().get(self.selected).cloned()
    }
}

pub async fn run(workflow: &Path, daemon: &Daemon, interval: Duration) -> Exit {
    let store = crate::cli::open_store(workflow).await.ok();
    let redactor = Redactor::new(
        crate::workflow_load::load_unrendered_file(workflow)
            .map(|wf| crate::redact::secrets_of(&wf))
            .unwrap_or_default(),
    );
    let user = std::env::var("USER").ok();
    let who = actor(None, user.as_deref());
    let mut terminal = ratatui::init();
    let mut app = App {
        snap: None,
        selected: 0,
        mode: Mode::Browse,
        message: String::new(),
        log: None,
        log_lines: vec![],
    };
    let mut next_fetch = Instant::now();
    let code = loop {
        if Instant::now() >= next_fetch {
            match daemon.get("/api/v1/state").await {
                Ok(state) => app.snap = Some(Snapshot::of_state(&state, chrono::Utc::now())),
                Err(e) => app.message = e.message,
            }
            if let (Some(t), Some(store)) = (&app.log, &store) {
                app.log_lines = log_tail(store, t, &redactor).await;
            }
            let n = app.selectable().len();
            app.selected = app.selected.min(n.saturating_sub(1));
            next_fetch = Instant::now() + interval;
        }
        if terminal.draw(|f| draw(f, &app)).is_err() {
            break Exit::Failure;
        }
        // Blocking for a short while is fine: this loop is the only task.
        let Ok(true) = event::poll(Duration::from_millis(100)) else {
            continue;
        };
        let Ok(Event::Key(key)) = event::read() else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        let mut action = None;
        match &mut app.mode {
            Mode::Rework { ticket, input } => match key.code {
                KeyCode::Esc => app.mode = Mode::Browse,
                KeyCode::Backspace => {
                    input.pop();
                }
                KeyCode::Char(c) => input.push(c),
                KeyCode::Enter if !input.trim().is_empty() => {
                    action = Some(Action::Rework {
                        ticket: ticket.clone(),
                        feedback: input.trim().to_string(),
                    });
                    app.mode = Mode::Browse;
                }
                _ => {}
            },
            Mode::Browse => match key.code {
                KeyCode::Char('q') | KeyCode::Esc => break Exit::Ok,
                KeyCode::Down | KeyCode::Char('j') => {
                    let n = app.selectable().len();
                    app.selected = (app.selected + 1).min(n.saturating_sub(1));
                }
                KeyCode::Up | KeyCode::Char('k') => app.selected = app.selected.saturating_sub(1),
                KeyCode::Char('a') => match app.current() {
                    Some((ticket, true)) => action = Some(Action::Approve { ticket }),
                    _ => app.message = "select a ticket waiting at a gate to approve".into(),
                },
                KeyCode::Char('r') => match app.current() {
                    Some((ticket, true)) => {
                        app.mode = Mode::Rework {
                            ticket,
                            input: String::new(),
                        }
                    }
                    _ => app.message = "select a ticket waiting at a gate to rework".into(),
                },
                KeyCode::Char('p') => {
                    let paused = app.snap.as_ref().is_some_and(|s| s.paused);
                    action = Some(if paused {
                        Action::Resume
                    } else {
                        Action::Pause
                    });
                }
                KeyCode::Char('f') => action = Some(Action::Refresh),
                KeyCode::Char('l') => {
                    app.log = match (&app.log, app.current()) {
                        (Some(_), _) | (None, None) => None,
                        (None, Some((t, _))) => Some(t),
                    };
                    app.log_lines.clear();
                    next_fetch = Instant::now();
                }
                _ => {}
            },
        }
        if let Some(a) = action {
            app.message = match perform(daemon, &a, &who).await {
                Ok(line) => line,
                Err(e) => e.message,
            };
            next_fetch = Instant::now();
        }
    };
    ratatui::restore();
    code
}

/// The last lines of the ticket's latest run's output, secrets blanked.
async fn log_tail(store: &crate::store::Store, ticket: &str, redactor: &Redactor) -> Vec<String> {
    let Some(run) = store.runs_for(ticket).await.ok().and_then(|mut r| r.pop()) else {
        return vec![format!("no runs of {ticket}")];
    };
    let path = PathBuf::from(&run.log_dir).join("stdout.log");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_LINES)..]
        .iter()
        .map(|l| redactor.raw(l).into_owned())
        .collect()
}

fn draw(f: &mut ratatui::Frame, app: &App) {
    let log_height = if app.log.is_some() {
        LOG_LINES as u16 + 2
    } else {
        0
    };
    let [head, body, log, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(log_height),
        Constraint::Length(2),
    ])
    .areas(f.area());
    let Some(snap) = &app.snap else {
        f.render_widget(Paragraph::new("waiting for the daemon…"), head);
        return;
    };
    f.render_widget(
        Paragraph::new(snap.header.as_str()).style(Style::new().add_modifier(Modifier::BOLD)),
        head,
    );
    let mut lines = Vec::new();
    let mut index = 0;
    let mut selected_line = 0;
    for (i, s) in snap.sections.iter().enumerate() {
        lines.push(Line::styled(
            s.title.clone(),
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        ));
        for r in &s.rows {
            let selectable = i < 4 && r.ticket.is_some();
            let style = if selectable && index == app.selected {
                selected_line = lines.len();
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            if selectable {
                index += 1;
            }
            lines.push(Line::styled(format!("  {}", r.text), style));
        }
    }
    let visible = body.height as usize;
    let scroll = selected_line.saturating_sub(visible.saturating_sub(2));
    f.render_widget(Paragraph::new(lines).scroll((scroll as u16, 0)), body);
    if let Some(t) = &app.log {
        let text: Vec<Line> = app.log_lines.iter().map(|l| Line::raw(l.clone())).collect();
        f.render_widget(
            Paragraph::new(text).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" {t}: latest run's output ")),
            ),
            log,
        );
    }
    let keys = match &app.mode {
        Mode::Browse => Line::from(vec![Span::styled(
            "↑↓ select  a approve  r rework  p pause/resume  l log  f refresh  q quit",
            Style::new().add_modifier(Modifier::DIM),
        )]),
        Mode::Rework { ticket, input } => Line::raw(format!(
            "rework {ticket}, feedback (Enter sends, Esc cancels): {input}▏"
        )),
    };
    f.render_widget(
        Paragraph::new(vec![keys, Line::raw(app.message.clone())]),
        foot,
    );
}
