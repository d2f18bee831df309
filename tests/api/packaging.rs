//! The deployment package (issue 6, CONTRACT §6 packaging note): `scripts/package` either
//! builds a static musl binary that starts and answers the host's ping, or fails with one line
//! naming the missing tool. azure.yaml hands packaging to that script.
//!
//! The real build takes minutes on a cold `target/package` (its own CARGO_TARGET_DIR, so it does
//! not wait on the build lock of the `cargo test` running this).

use crate::helpers::{Child, free_port};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn package(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("scripts/package");
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("scripts/package runs")
}

fn combined(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The one-line failure of CONTRACT §6: exit non-zero, one line, naming what is missing.
fn assert_names_missing_tool(out: &Output) {
    let text = combined(out);
    assert!(!out.status.success(), "{text}");
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "one line expected: {text}"
    );
    assert!(text.contains("missing"), "{text}");
    assert!(
        text.contains("musl-tools") || text.contains("x86_64-unknown-linux-musl"),
        "{text}"
    );
}

/// `GET /` over plain HTTP/1.1; the status code, or None while nothing listens.
fn ping(port: u16) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

fn zip_modes(path: &str) -> Vec<(String, u32)> {
    let script = "import sys, zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.filename, i.external_attr >> 16)";
    let out = Command::new("python3")
        .args(["-c", script, path])
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", combined(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, mode) = l.rsplit_once(' ').unwrap();
            (name.to_string(), mode.parse().unwrap())
        })
        .collect()
}

#[test]
fn azure_yaml_deploys_the_staged_dist_as_a_custom_function_app() {
    let yaml = std::fs::read_to_string("azure.yaml").unwrap();
    let lines: Vec<&str> = yaml.lines().map(str::trim).collect();
    for needed in [
        "language: custom",
        "host: function",
        "dist: dist",
        "prepackage:",
        "run: ./scripts/package",
    ] {
        assert!(lines.contains(&needed), "azure.yaml lacks `{needed}`");
    }
    assert!(yaml.contains("azd config set alpha.language.custom on"));
    // the three functions are staged by scripts/package, and its comments say so
    let script = std::fs::read_to_string("scripts/package").unwrap();
    assert!(
        script.contains("for function in CfToHalo HaloToCf Reconcile; do"),
        "scripts/package must stage Reconcile/"
    );
    assert!(script.contains("dist/Reconcile/function.json"));
    for (file, text) in [("azure.yaml", &yaml), ("scripts/package", &script)] {
        assert!(
            text.contains("Reconcile/"),
            "{file}'s comment lacks Reconcile/"
        );
    }
    let funcignore = std::fs::read_to_string(".funcignore").unwrap();
    for ignored in ["target", "src", "local.settings.json"] {
        assert!(
            funcignore.lines().any(|l| l == ignored),
            ".funcignore lacks {ignored}"
        );
    }
    assert!(
        funcignore.contains("three function folders"),
        ".funcignore's comment names the three functions"
    );
    for function in ["CfToHalo", "HaloToCf", "Reconcile"] {
        assert!(
            !funcignore
                .lines()
                .any(|l| l.trim_end_matches('/') == function),
            ".funcignore must not exclude {function}/"
        );
    }
}

#[test]
fn a_missing_musl_compiler_is_one_line_naming_musl_tools() {
    let out = package(
        &[],
        &[
            ("PACKAGE_NO_INSTALL", "1"),
            (
                "CC_x86_64_unknown_linux_musl",
                "/nonexistent/x86_64-linux-musl-gcc",
            ),
        ],
    );
    assert_names_missing_tool(&out);
    assert!(combined(&out).contains("musl-tools"));
}

#[test]
fn the_package_is_a_static_handler_that_answers_the_host_ping_or_names_what_is_missing() {
    let first = package(&["--zip"], &[]);
    if !first.status.success() {
        // CONTRACT §6: where the musl toolchain cannot be had, exactly that one line.
        assert_names_missing_tool(&first);
        return;
    }
    // runnable twice: the second run rebuilds nothing and replaces dist/ cleanly
    let second = package(&["--zip"], &[]);
    assert!(second.status.success(), "{}", combined(&second));

    let file = Command::new("file")
        .arg("dist/handler")
        .output()
        .expect("file(1)");
    let kind = String::from_utf8_lossy(&file.stdout);
    assert!(
        kind.contains("statically linked") || kind.contains("static-pie linked"),
        "{kind}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata("dist/handler")
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "handler must be executable: {mode:o}");
    for f in [
        "host.json",
        "CfToHalo/function.json",
        "HaloToCf/function.json",
        "Reconcile/function.json",
    ] {
        assert_eq!(
            std::fs::read(Path::new("dist").join(f)).unwrap(),
            std::fs::read(f).unwrap(),
            "dist/{f}"
        );
    }
    let mut entries = zip_modes("dist.zip");
    entries.sort();
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "CfToHalo/function.json",
            "HaloToCf/function.json",
            "Reconcile/function.json",
            "handler",
            "host.json"
        ]
    );
    let handler_mode = entries.iter().find(|(n, _)| n == "handler").unwrap().1;
    assert_eq!(
        handler_mode & 0o777,
        0o755,
        "zip keeps the exec bit: {handler_mode:o}"
    );

    let port = free_port();
    let _child = Child(
        Command::new("dist/handler")
            .env_clear()
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dist/handler starts"),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = ping(port) {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "dist/handler never answered GET /"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status, 200);
}
