//! The Functions app layout matches the contract (CONTRACT §1, §2).

use serde_json::{Value, json};

fn read_json(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn host_json_runs_the_handler_with_raw_http_pass_through() {
    let host = read_json("host.json");
    assert_eq!(host["version"], "2.0");
    assert_eq!(
        host["extensionBundle"]["id"],
        "Microsoft.Azure.Functions.ExtensionBundle"
    );
    assert_eq!(host["extensionBundle"]["version"], "[4.*, 5.0.0)");
    let handler = &host["customHandler"];
    assert_eq!(handler["description"]["defaultExecutablePath"], "handler");
    assert_eq!(handler["enableProxyingHttpRequest"], true);
    assert_eq!(handler["enableForwardingHttpRequest"], true);
    assert!(
        handler.get("http").is_none(),
        "http.routes cannot be combined with function.json folders"
    );
}

#[test]
fn each_function_has_one_post_trigger_with_a_function_key_and_one_http_output() {
    for function in ["CfToHalo", "HaloToCf"] {
        let f = read_json(&format!("{function}/function.json"));
        let bindings = f["bindings"].as_array().expect("bindings");
        assert_eq!(bindings.len(), 2, "{function}");
        let trigger = bindings
            .iter()
            .find(|b| b["type"] == "httpTrigger")
            .expect("trigger");
        assert_eq!(trigger["direction"], "in");
        assert_eq!(trigger["authLevel"], "function");
        assert_eq!(trigger["methods"], json!(["post"]));
        assert!(
            trigger.get("route").is_none(),
            "{function}: the path must stay /api/{function}"
        );
        let output = bindings
            .iter()
            .find(|b| b["type"] == "http")
            .expect("output");
        assert_eq!(output["direction"], "out");
    }
}

#[test]
fn reconcile_has_exactly_one_timer_trigger_on_the_reconcile_schedule_setting() {
    // CONTRACT §9.1: the host runs it as a singleton and calls POST /Reconcile (JSON invocation).
    let f = read_json("Reconcile/function.json");
    let bindings = f["bindings"].as_array().expect("bindings");
    assert_eq!(
        bindings,
        &vec![json!({
            "type": "timerTrigger",
            "direction": "in",
            "name": "timer",
            "schedule": "%RECONCILE_SCHEDULE%"
        })],
        "Reconcile/function.json"
    );
    assert!(
        bindings
            .iter()
            .all(|b| b["type"] != "httpTrigger" && b["type"] != "http"),
        "Reconcile has no HTTP binding"
    );
    // the setting the schedule names exists wherever the host may run
    let example = read_json("local.settings.json.example");
    assert_eq!(example["Values"]["RECONCILE_SCHEDULE"], "0 */5 * * * *");
}

#[test]
fn local_settings_example_lists_every_contract_setting() {
    let contract = std::fs::read_to_string("../shared/spec/CONTRACT.md").unwrap();
    let section = contract
        .split("## 2. Settings")
        .nth(1)
        .unwrap()
        .split("## 3.")
        .next()
        .unwrap();
    let example = read_json("local.settings.json.example");
    let values = example["Values"].as_object().unwrap();
    let mut names: Vec<&str> = section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.len() > 3
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 35, "parsed {names:?}");
    let missing: Vec<_> = names.iter().filter(|n| !values.contains_key(**n)).collect();
    assert!(
        missing.is_empty(),
        "local.settings.json.example lacks {missing:?}"
    );
}

#[test]
fn every_api_test_gets_its_sandbox_from_the_helper_that_checks_halo_s_published_names() {
    // `helpers::TestSandbox` asserts, when a test ends, that nothing sent Halo an undocumented
    // name (CONTRACT §11.1); a sandbox started any other way would skip that check.
    let mut offenders = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from("tests/api")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.ends_with("helpers.rs") || path.ends_with("layout.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for needle in ["Sandbox::start", "FakeHalo::start", "Sandbox::start_on"] {
                if text.contains(needle) {
                    offenders.push(format!("{}: {needle}", path.display()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "start sandboxes with helpers::start_sandbox: {offenders:?}"
    );
}
