//! `cmap schedule` says why a task has no runs: a cron that matches no date and an
//! interval too long to schedule are check errors, a manual, realtime or inactive task
//! says what runs it instead.

use crate::support::{cmap_in, Run};

fn schedule(pipeline: &str, task: &str) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("pipelines")).expect("mkdir");
    std::fs::write(
        dir.path().join("pipelines/p.cmap"),
        format!(
            "schema s {{\n  source salesforce.Contact\n  target c_contact\n  dedupe external_id(Id)\n  email = Email\n  name = LastName\n}}\n{pipeline}\n"
        ),
    )
    .expect("write");
    cmap_in(
        dir.path(),
        &[
            "schedule",
            task,
            "--next",
            "2",
            "--pipelines",
            "pipelines",
            "--data",
            "data",
        ],
        None,
    )
}

#[test]
fn a_task_without_runs_says_why() {
    // Each: the task, then what `cmap schedule` prints (stdout, or the check error).
    let cases = [
        (
            r#"task t { schema s schedule cron "0 0 30 2 *" }"#,
            "error: E0406 cron `0 0 30 2 *` never runs: no date matches it",
        ),
        (
            r#"task t { schema s schedule cron "0 0 31 4,6,9,11 *" in "Europe/Paris" }"#,
            "error: E0406 cron `0 0 31 4,6,9,11 *` never runs: no date matches it",
        ),
        (
            "task t { schema s schedule every 18446744073709551615 weeks }",
            "error: E0407 an interval of 18446744073709551615 weeks is longer than cmap schedules",
        ),
        (
            "task t { schema s }",
            "Runs only when triggered\n  no scheduled runs: it runs only when triggered (`cmap run`, `POST /api/tasks/ID/run`)",
        ),
        (
            "task t { schema s schedule every 1 hours status paused }",
            "Runs every hour\n  no scheduled runs: the task is paused (`status active` schedules it)",
        ),
    ];
    for (pipeline, want) in cases {
        let r = schedule(pipeline, "t");
        let got = if r.code == 0 {
            r.stdout.trim_end().to_string()
        } else {
            // The first line of the check report: code and message.
            let first = r
                .stderr
                .lines()
                .find(|l| l.contains('×'))
                .unwrap_or_default();
            let code = r.stderr.lines().next().unwrap_or_default().trim();
            format!(
                "error: {code} {}",
                first.trim_start_matches([' ', '×']).trim()
            )
        };
        assert_eq!(got, want, "{pipeline}\n{}", r.stderr);
    }
    // The valid sibling runs (in leap years).
    let r = schedule(r#"task t { schema s schedule cron "0 0 29 2 *" }"#, "t");
    r.code(0);
    assert!(r.stdout.contains("-02-29 00:00 UTC"), "{}", r.stdout);
}
