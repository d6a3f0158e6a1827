//! `cmap schedule` says why a task has no runs (a cron that matches no date and an
//! interval too long to schedule are check errors, a manual, realtime or inactive task
//! says what runs it instead), and lists a spring-forward day's runs.

use crate::support::{cmap_in, Run};

fn schedule(pipeline: &str, task: &str) -> Run {
    schedule_with(pipeline, task, &["--next", "2"])
}

fn schedule_with(pipeline: &str, task: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("pipelines")).expect("mkdir");
    std::fs::write(
        dir.path().join("pipelines/p.cmap"),
        format!(
            "schema s {{\n  source salesforce.Contact\n  target c_contact\n  dedupe external_id(Id)\n  email = Email\n  name = LastName\n}}\n{pipeline}\n"
        ),
    )
    .expect("write");
    let mut args = vec![
        "schedule",
        task,
        "--pipelines",
        "pipelines",
        "--data",
        "data",
    ];
    args.extend(extra);
    cmap_in(dir.path(), &args, None)
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

/// The issue's spring-forward cases as `cmap schedule` lists them: the runs skipped in
/// New York's missing hour run once, at 03:00 EDT.
#[test]
fn schedule_lists_the_runs_of_a_spring_forward_day() {
    let cases = [
        ("0,30 2 * * *", "  2026-03-08 07:00 UTC  (Sun 2026-03-08 03:00 EDT)\n  2026-03-09 06:00 UTC  (Mon 2026-03-09 02:00 EDT)\n  2026-03-09 06:30 UTC  (Mon 2026-03-09 02:30 EDT)"),
        ("*/15 2 * * *", "  2026-03-08 07:00 UTC  (Sun 2026-03-08 03:00 EDT)\n  2026-03-09 06:00 UTC  (Mon 2026-03-09 02:00 EDT)\n  2026-03-09 06:15 UTC  (Mon 2026-03-09 02:15 EDT)"),
        ("0 2,4 * * *", "  2026-03-08 07:00 UTC  (Sun 2026-03-08 03:00 EDT)\n  2026-03-08 08:00 UTC  (Sun 2026-03-08 04:00 EDT)\n  2026-03-09 06:00 UTC  (Mon 2026-03-09 02:00 EDT)"),
    ];
    for (cron, want) in cases {
        let r = schedule_with(
            &format!("task t {{ schema s schedule cron \"{cron}\" in \"America/New_York\" }}"),
            "t",
            &["--from", "Sat, 07 Mar 2026 12:00:00 UTC", "--next", "3"],
        );
        r.code(0);
        let runs: Vec<&str> = r.stdout.lines().skip(1).collect();
        assert_eq!(runs.join("\n"), want, "{cron}");
    }
}
