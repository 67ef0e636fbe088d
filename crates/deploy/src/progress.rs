//! Progress of a deploy: stack events as they arrive, with the elapsed time. On a terminal
//! ([`std::io::IsTerminal`]) a live view keeps one line per stack up to date; otherwise plain
//! lines, one per event, fit for logs and CI. Progress goes to stderr; data goes to stdout.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use crate::changes::Change;
use crate::ports::StackEvent;

/// Receives what happens during a deploy. Called from several threads at once.
pub trait Progress: Send + Sync {
    /// A message about one stack (`stack` may be empty for the whole deploy).
    fn say(&self, stack: &str, message: &str);
    /// The changes a change set will make, before it is executed.
    fn changes(&self, stack: &str, changes: &[Change]);
    /// A new stack event.
    fn event(&self, event: &StackEvent);
}

fn elapsed(start: Instant) -> String {
    let s = start.elapsed().as_secs();
    format!("{:>2}:{:02}", s / 60, s % 60)
}

fn event_line(e: &StackEvent) -> String {
    let mut line = format!(
        "{}  {} ({})  {}",
        e.stack, e.logical_id, e.resource_type, e.status
    );
    if let Some(r) = e.reason.as_deref().filter(|r| !r.is_empty()) {
        line.push_str(": ");
        line.push_str(r);
    }
    line
}

fn change_lines(stack: &str, changes: &[Change]) -> Vec<String> {
    let (a, m, r, d) = crate::changes::counts(changes);
    let mut out = vec![format!(
        "{stack}: change set: {a} to add, {m} to modify, {r} to replace, {d} to remove"
    )];
    for c in changes {
        out.push(format!(
            "    {:<8} {} ({}){}",
            c.action.to_string(),
            c.logical_id,
            c.resource_type,
            if c.conditional { " (possibly)" } else { "" }
        ));
    }
    out
}

/// One line per event and message, prefixed with the elapsed time.
pub struct Plain<W: Write + Send> {
    start: Instant,
    out: Mutex<W>,
}

impl<W: Write + Send> Plain<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        Plain {
            start: Instant::now(),
            out: Mutex::new(out),
        }
    }

    fn line(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "[{}] {text}", elapsed(self.start));
        let _ = out.flush();
    }
}

impl<W: Write + Send> Progress for Plain<W> {
    fn say(&self, stack: &str, message: &str) {
        if stack.is_empty() {
            self.line(message);
        } else {
            self.line(&format!("{stack}: {message}"));
        }
    }

    fn changes(&self, stack: &str, changes: &[Change]) {
        for l in change_lines(stack, changes) {
            self.line(&l);
        }
    }

    fn event(&self, event: &StackEvent) {
        self.line(&event_line(event));
    }
}

struct LiveState {
    /// Per stack: resources seen, resources settled, last event line.
    rows: BTreeMap<String, (BTreeMap<String, String>, String)>,
    drawn: usize,
}

/// A live view for a terminal: messages scroll above a block of one line per active stack
/// (resources done / seen, latest event), redrawn in place.
pub struct Live<W: Write + Send> {
    start: Instant,
    out: Mutex<(W, LiveState)>,
}

impl<W: Write + Send> Live<W> {
    /// Draws on `out` (a terminal).
    pub fn new(out: W) -> Self {
        Live {
            start: Instant::now(),
            out: Mutex::new((
                out,
                LiveState {
                    rows: BTreeMap::new(),
                    drawn: 0,
                },
            )),
        }
    }

    fn redraw(&self, above: &[String], update: impl FnOnce(&mut LiveState)) {
        let mut guard = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let (out, state) = &mut *guard;
        // Move to the top of the block and clear it.
        if state.drawn > 0 {
            let _ = write!(out, "\x1b[{}A\x1b[J", state.drawn);
        }
        for l in above {
            let _ = writeln!(out, "[{}] {l}", elapsed(self.start));
        }
        update(state);
        let mut n = 0;
        for (stack, (resources, last)) in &state.rows {
            let done = resources
                .values()
                .filter(|s| crate::status::is_settled(s))
                .count();
            let _ = writeln!(
                out,
                "[{}] {stack:<32} {done:>3}/{:<3} {}",
                elapsed(self.start),
                resources.len(),
                truncate(last, 90)
            );
            n += 1;
        }
        state.drawn = n;
        let _ = out.flush();
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n - 1).collect();
        format!("{t}…")
    }
}

impl<W: Write + Send> Progress for Live<W> {
    fn say(&self, stack: &str, message: &str) {
        let line = if stack.is_empty() {
            message.to_string()
        } else {
            format!("{stack}: {message}")
        };
        self.redraw(&[line], |_| {});
    }

    fn changes(&self, stack: &str, changes: &[Change]) {
        self.redraw(&change_lines(stack, changes), |_| {});
    }

    fn event(&self, e: &StackEvent) {
        let stack_level = e.resource_type == "AWS::CloudFormation::Stack";
        let settled = stack_level && crate::status::is_settled(&e.status);
        let above = if e.status.ends_with("_FAILED") || settled {
            vec![event_line(e)]
        } else {
            Vec::new()
        };
        self.redraw(&above, |state| {
            if settled {
                state.rows.remove(&e.stack);
                return;
            }
            let row = state.rows.entry(e.stack.clone()).or_default();
            if !stack_level {
                row.0.insert(e.logical_id.clone(), e.status.clone());
            }
            row.1 = format!("{} {}", e.logical_id, e.status);
        });
    }
}

/// Collects every line (for tests and `--json` runs).
#[derive(Default)]
pub struct Recorder {
    /// Lines in order.
    pub lines: Mutex<Vec<String>>,
}

impl Recorder {
    /// A copy of the lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    fn push(&self, l: String) {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).push(l);
    }
}

impl Progress for Recorder {
    fn say(&self, stack: &str, message: &str) {
        self.push(format!("{stack}: {message}"));
    }
    fn changes(&self, stack: &str, changes: &[Change]) {
        for l in change_lines(stack, changes) {
            self.push(l);
        }
    }
    fn event(&self, event: &StackEvent) {
        self.push(event_line(event));
    }
}

/// The progress sink for stderr: live on a terminal, plain otherwise.
pub fn for_stderr() -> Box<dyn Progress> {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() && std::env::var_os("IDEALSTACK_PLAIN").is_none() {
        Box::new(Live::new(std::io::stderr()))
    } else {
        Box::new(Plain::new(std::io::stderr()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(stack: &str, id: &str, ty: &str, status: &str) -> StackEvent {
        StackEvent {
            id: format!("{stack}{id}{status}"),
            stack: stack.into(),
            logical_id: id.into(),
            resource_type: ty.into(),
            status: status.into(),
            reason: None,
        }
    }

    #[test]
    fn plain_lines_carry_elapsed_time_and_reason() {
        let p = Plain::new(Vec::new());
        let mut e = ev("a-site-x", "Service", "AWS::ECS::Service", "CREATE_FAILED");
        e.reason = Some("boom".into());
        p.event(&e);
        let text = String::from_utf8(p.out.into_inner().unwrap()).unwrap();
        assert_eq!(
            text,
            "[ 0:00] a-site-x  Service (AWS::ECS::Service)  CREATE_FAILED: boom\n"
        );
    }

    #[test]
    fn live_view_redraws_one_row_per_active_stack() {
        let live = Live::new(Vec::new());
        live.event(&ev(
            "a-network",
            "Vpc",
            "AWS::EC2::VPC",
            "CREATE_IN_PROGRESS",
        ));
        live.event(&ev("a-network", "Vpc", "AWS::EC2::VPC", "CREATE_COMPLETE"));
        live.event(&ev(
            "a-network",
            "a-network",
            "AWS::CloudFormation::Stack",
            "CREATE_COMPLETE",
        ));
        let (out, state) = live.out.into_inner().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("a-network                          1/1   Vpc CREATE_COMPLETE"),
            "{text}"
        );
        assert!(text.contains("\x1b[1A\x1b[J"), "redraws in place: {text:?}");
        assert!(state.rows.is_empty(), "a finished stack leaves the block");
    }
}
