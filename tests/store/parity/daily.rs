//! Figures per day (the dashboard's chart, `GET /api/v1/stats/daily`) on both engines:
//! runs by the day they started and their cost, failed runs, and tickets that reached a
//! terminal state, with empty days listed as zeros.

use karajan::domain::{Cause, Phase, RunStatus, StateKind};

use super::parity;
use crate::store::{picked, run_finished, run_started, t, transition};

parity! {
    /// Three days of a small story, read back over a window of four.
    async fn figures_per_day(b: Backend) {
        let s = &b.store;
        let at = |day: &str, time: &str| t(&format!("2026-11-{day}T{time}Z"));
        s.append_at(vec![picked("ENG-1", "implement"), run_started("ENG-1", "r-1", "implement", 1)], at("20", "23:59:00")).await.expect("append");
        // Finished after midnight: the run still counts on the day it started.
        s.append_at(vec![run_finished("ENG-1", "r-1", RunStatus::Failed { reason: "exit 1".into() }, Phase::Ready, None)], at("21", "00:01:00")).await.expect("append");
        s.append_at(vec![run_started("ENG-1", "r-2", "implement", 2)], at("21", "08:00:00")).await.expect("append");
        s.append_at(vec![run_finished("ENG-1", "r-2", RunStatus::Succeeded, Phase::Succeeded { run_id: "r-2".into(), verdict: None }, None)], at("21", "08:10:00")).await.expect("append");
        // ENG-1 done, ENG-2 canceled: both finished on the 21st; a feedback text that
        // quotes the pattern does not count.
        let done = transition("ENG-1", "done", StateKind::Terminal, Cause::AgentFinished { run_id: "r-2".into() });
        let canceled = transition("ENG-2", "canceled", StateKind::Terminal, Cause::HumanMoved { column: "Canceled".into() });
        s.append_at(vec![done, canceled], at("21", "09:00:00")).await.expect("append");
        let mut tricky = transition("ENG-3", "implement", StateKind::Agent, Cause::Picked);
        if let karajan::store::EventKind::Transition { feedback, .. } = &mut tricky.kind {
            *feedback = Some("\"to_kind\":\"terminal\"".into());
        }
        s.append_at(vec![tricky, run_started("ENG-3", "r-3", "implement", 1)], at("22", "10:00:00")).await.expect("append");
        let last = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
        let days = s.daily(last, 4).await.expect("daily");
        let rows: Vec<(&str, u64, u64, u64)> = days.iter().map(|d| (d.day.as_str(), d.runs, d.failed, d.finished)).collect();
        assert_eq!(
            rows,
            [("2026-11-19", 0, 0, 0), ("2026-11-20", 1, 1, 0), ("2026-11-21", 1, 0, 2), ("2026-11-22", 1, 0, 0)],
            "{}", b.name
        );
        let cost: Vec<f64> = days.iter().map(|d| d.cost_usd).collect();
        assert_eq!(cost, [0.0, 0.25, 0.25, 0.0], "{}", b.name);
        // A window that ends earlier sees nothing later.
        let before = s.daily(chrono::NaiveDate::from_ymd_opt(2026, 11, 20).expect("date"), 1).await.expect("daily");
        assert_eq!(before.len(), 1);
        assert_eq!((before[0].runs, before[0].finished), (1, 0));
    }
}
