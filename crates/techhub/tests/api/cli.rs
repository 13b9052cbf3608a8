//! The `techhub` binary's commands, run as a user would run them.

use std::process::{Command, Output};

use sqlx::Connection;

use crate::helpers::TestDatabases;

fn techhub(dbs: &TestDatabases, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_techhub"));
    cmd.args(args).envs(dbs.env()).env("RUST_LOG", "warn");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("techhub runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn techhub_migrate_applies_everything_once_then_reports_up_to_date() {
    let dbs = TestDatabases::create().await;

    let first = techhub(&dbs, &["migrate"], &[]);
    assert!(first.status.success(), "first run: {}", stderr(&first));
    let out = stdout(&first);
    for store in ["mysql", "postgres", "mongodb"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(store))
            .unwrap_or_else(|| panic!("{store}: {out}"));
        assert!(line.contains("applied"), "{line}");
    }

    let second = techhub(&dbs, &["migrate"], &[]);
    assert!(second.status.success(), "second run: {}", stderr(&second));
    let out = stdout(&second);
    assert_eq!(
        out.lines().filter(|l| l.contains("up to date")).count(),
        3,
        "{out}"
    );
    assert!(!out.contains("applied"), "{out}");
}

#[tokio::test]
async fn techhub_doctor_prints_every_store_with_version_and_latency() {
    let dbs = TestDatabases::create().await;
    assert!(techhub(&dbs, &["migrate"], &[]).status.success());
    let out = techhub(&dbs, &["doctor"], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for store in ["mysql", "postgres", "mongodb", "redis"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(store))
            .unwrap_or_else(|| panic!("{store}: {text}"));
        let cells: Vec<&str> = line
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            cells.len(),
            5,
            "store, address, version, status, latency: {line}"
        );
        assert!(
            cells[2].chars().next().is_some_and(|c| c.is_ascii_digit()),
            "version: {line}"
        );
        assert_eq!(cells[3], "up", "{line}");
        assert!(cells[4].ends_with(" ms"), "{line}");
    }
    assert!(
        !text.contains(":techhub@"),
        "passwords are redacted: {text}"
    );
    assert!(text.contains("outbox: 0 pending, 0 dead"), "{text}");
    assert!(
        text.contains("new posts' stream: last delivery")
            && text.contains("0 posts older than 60 s not delivered"),
        "{text}"
    );
}

#[tokio::test]
async fn techhub_doctor_says_when_the_schema_is_missing() {
    let dbs = TestDatabases::create().await;
    let out = techhub(&dbs, &["doctor"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("has `techhub migrate` run?"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn techhub_doctor_exits_nonzero_naming_the_store_that_is_down() {
    let dbs = TestDatabases::create().await;
    assert!(techhub(&dbs, &["migrate"], &[]).status.success());
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{closed}/0");
    let out = techhub(&dbs, &["doctor"], &[("TECHHUB_REDIS_URL", &url)]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let redis = text.lines().find(|l| l.starts_with("redis")).unwrap();
    assert!(redis.contains("DOWN"), "{redis}");
    for store in ["mysql", "postgres", "mongodb"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(store) && l.contains(" up ")),
            "{store}: {text}"
        );
    }
}

#[tokio::test]
async fn techhub_serve_refuses_the_default_jwt_secret_in_production_mode() {
    let dbs = TestDatabases::create().await;
    let out = techhub(
        &dbs,
        &["serve"],
        &[
            ("TECHHUB_MODE", "production"),
            ("TECHHUB_BIND", "127.0.0.1:0"),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("TECHHUB_JWT_SECRET must be set"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_configuration_variable_is_in_help_and_in_the_configuration_reference() {
    let help = Command::new(env!("CARGO_BIN_EXE_techhub"))
        .arg("--help")
        .env(
            "TECHHUB_JWT_SECRET",
            "a-secret-that-must-never-be-printed-anywhere",
        )
        .output()
        .unwrap();
    let help = stdout(&help);
    assert!(
        !help.contains("a-secret-that-must-never-be-printed"),
        "{help}"
    );
    let reference = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/configuration.md"
    ))
    .unwrap();
    let vars: Vec<&str> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("TECHHUB_"))
        .collect();
    assert!(vars.len() >= 15, "{help}");
    for var in vars {
        assert!(
            reference.contains(&format!("`{var}`")),
            "{var} is not documented in docs/configuration.md"
        );
    }
}

#[tokio::test]
async fn techhub_demo_creates_the_demo_accounts_once() {
    let dbs = TestDatabases::create().await;
    assert!(techhub(&dbs, &["migrate"], &[]).status.success());
    let first = techhub(&dbs, &["demo"], &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(
        stdout(&first).matches(" created: ").count(),
        3,
        "{}",
        stdout(&first)
    );
    let second = techhub(&dbs, &["demo"], &[]);
    assert!(second.status.success());
    assert_eq!(
        stdout(&second).matches("already exists").count(),
        3,
        "{}",
        stdout(&second)
    );

    let mut mysql = sqlx::MySqlConnection::connect(&dbs.config.mysql_url)
        .await
        .unwrap();
    let plans: Vec<(String, String)> = sqlx::query_as(
        "SELECT u.username, CAST(s.plan_type AS CHAR) FROM users u \
         JOIN subscriptions s ON s.user_id = u.id AND s.status = 'active' ORDER BY u.username",
    )
    .fetch_all(&mut mysql)
    .await
    .unwrap();
    let expected = [("ada", "pro"), ("grace", "free"), ("linus", "enterprise")];
    assert_eq!(plans, expected.map(|(u, p)| (u.to_string(), p.to_string())));
}
