//! The Function App's settings: every setting the handler needs is provided by the template or a
//! documented parameter, none is a secret literal, and the site runs the custom handler on Flex
//! Consumption or Elastic Premium.

use std::collections::{BTreeMap, BTreeSet};

use tree_sitter::Node;

use super::bicep::{all_files, descendants, load, named_children, parameters_json};
use super::contract::{optional_defaults, required_settings, secret_settings};

#[test]
fn no_secret_literals_in_templates_or_parameters() {
    let secrets = secret_settings();
    let looks_secret = |name: &str| {
        let n = name.to_lowercase();
        [
            "secret",
            "password",
            "pwd",
            "token",
            "apikey",
            "accountkey",
            "sas",
        ]
        .iter()
        .any(|w| n.contains(w))
    };
    for file in all_files() {
        for p in file.params() {
            let secure = p.decorators.iter().any(|d| d.starts_with("@secure"));
            // A @secure() parameter may default to nothing (`''`: an optional secret the
            // template stores only when given, see cfWebhookAuthorization), never to a value.
            let empty_default = p
                .default
                .is_some_and(|d| file.string(d).is_some_and(|v| v.is_empty()));
            assert!(
                !((looks_secret(&p.name) || secure) && p.default.is_some() && !empty_default),
                "{}: param {} is secret-like and has a default",
                file.name(),
                p.name
            );
            assert!(
                !looks_secret(&p.name),
                "{}: secrets are not parameters ({})",
                file.name(),
                p.name
            );
        }
        for (key, _) in file.properties() {
            assert!(
                !secrets.contains(&key),
                "{}: {key} must come from Key Vault, not an app setting",
                file.name()
            );
        }
        for banned in ["listKeys(", "AccountKey=", "whsec_", "sig=", "-----BEGIN"] {
            assert!(
                !file.src.contains(banned),
                "{} contains {banned}",
                file.name()
            );
        }
    }
    let params = parameters_json();
    for (name, entry) in params["parameters"].as_object().unwrap() {
        assert!(!looks_secret(name), "main.parameters.json: {name}");
        let value = entry["value"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: not a string"));
        assert!(
            value.starts_with("${") && value.ends_with('}') && !value[2..].contains("${"),
            "main.parameters.json: {name} must be one ${{ENV}} reference, not a literal: {value}"
        );
        let var = value[2..value.len() - 1].split(['=', ':']).next().unwrap();
        assert!(
            !secrets.contains(var),
            "main.parameters.json: {name} reads the secret {var}"
        );
        assert!(
            !looks_secret(var),
            "main.parameters.json: {name} reads {var}"
        );
    }
}

#[test]
fn every_setting_the_handler_requires_is_provided_or_a_documented_parameter() {
    let main = load("infra/main.bicep");
    let settings_var = main
        .variable("handlerSettings")
        .expect("var handlerSettings");
    let provided: BTreeMap<String, Node> = named_children(settings_var)
        .into_iter()
        .filter(|p| p.kind() == "object_property")
        .map(|p| (main.key(p), *named_children(p).last().unwrap()))
        .collect();
    let params = parameters_json();
    let secrets = secret_settings();
    let defaults = optional_defaults();

    let required: BTreeSet<String> = required_settings().difference(&secrets).cloned().collect();
    let optional: BTreeSet<String> = defaults
        .keys()
        .filter(|k| !secrets.contains(*k) && k.as_str() != "STATE_BLOB_URL")
        .cloned()
        .collect();
    for setting in required.iter().chain(&optional) {
        let value = provided
            .get(setting)
            .unwrap_or_else(|| panic!("{setting} is not in handlerSettings"));
        // `param` itself, or `string(param)` for an int parameter (app settings are strings)
        let Some(name) = passed_param(&main, *value) else {
            continue; // computed by the template
        };
        let param = main
            .param(name)
            .unwrap_or_else(|| panic!("{setting}: {name} is not a parameter"));
        assert!(
            param
                .decorators
                .iter()
                .any(|d| d.starts_with("@description(") && d.contains(setting.as_str())),
            "{setting}: parameter {name} needs a @description naming the setting"
        );
        assert_eq!(
            params["parameters"][name]["value"],
            format!("${{{setting}}}"),
            "main.parameters.json must read {name} from the azd environment variable {setting}"
        );
        if required.contains(setting) {
            assert!(param.default.is_none(), "{setting} is required: no default");
            assert!(
                param.decorators.iter().any(|d| d == "@minLength(1)"),
                "{setting} is required: @minLength(1)"
            );
        } else {
            let default = param
                .default
                .unwrap_or_else(|| panic!("{setting}: no default"));
            let declared = main.param_type(name);
            let default = if declared == "int" {
                // an int parameter reaches the setting through string(), bounded by Bicep
                assert_eq!(
                    main.text(*value),
                    format!("string({name})"),
                    "{setting}: an int parameter is passed as string({name})"
                );
                assert_eq!(default.kind(), "number", "{setting}: default");
                for bound in ["@minValue(", "@maxValue("] {
                    assert!(
                        param.decorators.iter().any(|d| d.starts_with(bound)),
                        "{setting}: the int parameter {name} needs {bound}…)"
                    );
                }
                main.text(default).to_string()
            } else {
                assert_eq!(declared, "string", "{setting}: {name}");
                main.string(default).unwrap()
            };
            assert_eq!(
                default, defaults[setting],
                "{setting}: default differs from CONTRACT §2"
            );
            // a choice parameter's default is one of its choices
            if let Some(allowed) = param.decorators.iter().find(|d| d.starts_with("@allowed(")) {
                assert!(
                    allowed.contains(&format!("'{default}'")),
                    "{setting}: default {default} is not @allowed"
                );
            }
        }
    }

    // What the template computes.
    assert_eq!(main.text(provided["KEY_VAULT_URI"]), "keyVault.outputs.uri");
    assert_eq!(main.string(provided["STATE_STORE"]).unwrap(), "blob");
    assert_eq!(main.text(provided["STATE_CONTAINER"]), "stateContainerName");
    let container = main.param("stateContainerName").unwrap();
    assert_eq!(
        main.string(container.default.unwrap()).unwrap(),
        "cf-halo-state"
    );
    let storage = main
        .declarations("module_declaration")
        .into_iter()
        .find(|(m, _)| main.text(*m).contains("'modules/storage.bicep'"))
        .unwrap();
    assert!(main.text(storage.0).contains("stateContainerName"));
    let kv = load("infra/modules/keyvault.bicep");
    assert_eq!(kv.outputs()["uri"], "vault.properties.vaultUri");

    // The settings reach the site.
    let app = load("infra/modules/functionapp.bicep");
    let config = app
        .resources_of("Microsoft.Web/sites/config")
        .into_iter()
        .find(|r| app.string(app.prop(r.body, "name").unwrap()).as_deref() == Some("appsettings"))
        .expect("an appsettings resource");
    let merged = app.text(app.prop(config.body, "properties").unwrap());
    assert!(
        merged.contains("handlerSettings") && merged.contains("platformSettings"),
        "{merged}"
    );
}

/// The parameter `value` passes straight through: `param` or `string(param)`.
fn passed_param<'t>(main: &'t super::bicep::Bicep, value: Node<'t>) -> Option<&'t str> {
    match value.kind() {
        "identifier" => Some(main.text(value)),
        "call_expression" => {
            let function = value.child_by_field_name("function")?;
            let arguments = named_children(value.child_by_field_name("arguments")?);
            (main.text(function) == "string"
                && arguments.len() == 1
                && arguments[0].kind() == "identifier")
                .then(|| main.text(arguments[0]))
        }
        _ => None,
    }
}

#[test]
fn the_new_choice_settings_are_constrained_to_the_contract_values() {
    let main = load("infra/main.bicep");
    for (name, choices) in [
        ("cfApiRoutes", &["'auto'", "'source'", "'workspace'"][..]),
        ("haloInvestigationNote", &["'private'", "'public'", "'off'"]),
        ("cfCommentsToHalo", &["'private'", "'public'", "'off'"]),
        ("cfInvestigationCreates", &["'true'", "'false'"]),
        ("haloCloseOnCfClose", &["'true'", "'false'"]),
    ] {
        let param = main.param(name).unwrap_or_else(|| panic!("param {name}"));
        let allowed = param
            .decorators
            .iter()
            .find(|d| d.starts_with("@allowed("))
            .unwrap_or_else(|| panic!("{name}: @allowed"));
        for choice in choices {
            assert!(allowed.contains(choice), "{name}: {allowed} lacks {choice}");
        }
        let listed = allowed.matches('\'').count() / 2;
        assert_eq!(listed, choices.len(), "{name}: {allowed}");
    }
    // the timer's schedule binding expression must always resolve: never an empty setting
    let schedule = main.param("reconcileSchedule").unwrap();
    assert!(schedule.decorators.iter().any(|d| d == "@minLength(1)"));
}

#[test]
fn the_function_app_runs_the_custom_handler_on_flex_or_elastic_premium() {
    let main = load("infra/main.bicep");
    let plan = main.param("hostingPlan").unwrap();
    assert_eq!(
        main.string(plan.default.unwrap()).unwrap(),
        "FlexConsumption"
    );
    assert!(
        plan.decorators
            .iter()
            .any(|d| d.starts_with("@allowed(") && d.contains("'ElasticPremium'"))
    );
    // a listed Flex stack by default (azure.md §1.8); the handler comes from host.json
    let runtime = main.param("flexRuntimeName").unwrap();
    assert!(["python", "node"].contains(&main.string(runtime.default.unwrap()).unwrap().as_str()));

    let app = load("infra/modules/functionapp.bicep");
    let farm = &app.resources_of("Microsoft.Web/serverfarms")[0];
    let farm_text = app.text(farm.body);
    for s in ["'FC1'", "'FlexConsumption'", "'ElasticPremium'"] {
        assert!(farm_text.contains(s), "plan lacks {s}");
    }
    let site = &app.resources_of("Microsoft.Web/sites")[0];
    assert!(
        app.string(app.prop(site.body, "kind").unwrap())
            .unwrap()
            .contains("linux")
    );
    assert_eq!(
        app.string(app.path(site.body, &["identity", "type"]).unwrap())
            .unwrap(),
        "SystemAssigned"
    );
    assert_eq!(
        app.text(app.path(site.body, &["properties", "httpsOnly"]).unwrap()),
        "true"
    );
    let flex = app
        .path(site.body, &["properties", "functionAppConfig"])
        .unwrap();
    assert_eq!(flex.kind(), "ternary_expression");
    let runtime = descendants(flex)
        .into_iter()
        .filter(|n| n.kind() == "object_property")
        .find(|p| app.key(*p) == "runtime")
        .unwrap();
    assert!(app.text(runtime).contains("flexRuntimeName"));

    // Flex rejects FUNCTIONS_WORKER_RUNTIME & co.: they may only sit in the non-Flex branch.
    for (key, value) in app.properties() {
        if [
            "FUNCTIONS_WORKER_RUNTIME",
            "FUNCTIONS_EXTENSION_VERSION",
            "WEBSITE_RUN_FROM_PACKAGE",
        ]
        .contains(&key.as_str())
        {
            let mut node = value;
            let branch = loop {
                let parent = node.parent().expect("inside a ternary on isFlex");
                if parent.kind() == "ternary_expression" {
                    break (parent, node);
                }
                node = parent;
            };
            let (ternary, arm) = branch;
            assert_eq!(
                app.text(ternary.child_by_field_name("condition").unwrap()),
                "isFlex"
            );
            assert_eq!(
                ternary.child_by_field_name("alternative"),
                Some(arm),
                "{key} on Flex"
            );
        }
    }
    let settings: BTreeMap<String, Node> = app.properties().into_iter().collect();
    assert_eq!(
        app.string(settings["FUNCTIONS_WORKER_RUNTIME"]).unwrap(),
        "custom"
    );
    assert_eq!(
        app.string(settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"])
            .unwrap(),
        "Authorization=AAD"
    );
    assert!(settings.contains_key("APPLICATIONINSIGHTS_CONNECTION_STRING"));

    let mon = load("infra/modules/monitoring.bicep");
    let ai = &mon.resources_of("Microsoft.Insights/components")[0];
    assert_eq!(
        mon.text(
            mon.path(ai.body, &["properties", "DisableLocalAuth"])
                .unwrap()
        ),
        "true"
    );
    assert!(
        mon.path(ai.body, &["properties", "WorkspaceResourceId"])
            .is_some()
    );
    assert_eq!(
        mon.resources_of("Microsoft.OperationalInsights/workspaces")
            .len(),
        1
    );
}
