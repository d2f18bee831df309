//! The resources the deployment depends on: every file parses, RBAC-only Key Vault, the three
//! role assignments with deterministic names, identity-based storage and the ledger's lifecycle
//! rule.

use std::collections::BTreeMap;

use super::bicep::{
    Bicep, all_files, bicep_files, descendants, load, named_children, parse_source,
};

const KEY_VAULT_SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";
const STORAGE_BLOB_DATA_OWNER: &str = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
const MONITORING_METRICS_PUBLISHER: &str = "3913510d-42f4-4e42-8a64-420c390055eb";

#[test]
fn the_grammar_rejects_broken_bicep() {
    let broken =
        "param x string = \nresource y 'Microsoft.Web/sites@2024-04-01' = {\n  name: \n}\n";
    assert!(parse_source(broken).root_node().has_error());
    let fine = "param x string = 'a'\noutput y string = '${x}-b'\n";
    assert!(!parse_source(fine).root_node().has_error());
}

#[test]
fn every_bicep_file_parses_without_error_nodes_and_every_module_exists() {
    let files = bicep_files();
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    for expected in [
        "infra/main.bicep",
        "infra/modules/functionapp.bicep",
        "infra/modules/keyvault.bicep",
        "infra/modules/monitoring.bicep",
        "infra/modules/rbac.bicep",
        "infra/modules/storage.bicep",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing: {names:?}"
        );
    }
    for path in &files {
        let file = Bicep::load(path);
        let errors: Vec<String> = descendants(file.root())
            .into_iter()
            .filter(|n| n.is_error() || n.is_missing())
            .map(|n| {
                format!(
                    "line {} col {}: {} {:?}",
                    n.start_position().row + 1,
                    n.start_position().column + 1,
                    n.kind(),
                    file.text(n)
                )
            })
            .collect();
        assert!(!file.root().has_error(), "{}: {errors:?}", file.name());
        for (module, _) in file.declarations("module_declaration") {
            let target = file.string(named_children(module)[1]).unwrap();
            let resolved = path.parent().unwrap().join(&target);
            assert!(
                resolved.is_file(),
                "{}: module {target} not found",
                file.name()
            );
        }
    }
}

#[test]
fn key_vault_uses_rbac_authorization_only() {
    let kv = load("infra/modules/keyvault.bicep");
    let vaults = kv.resources_of("Microsoft.KeyVault/vaults");
    assert_eq!(vaults.len(), 1);
    let props = kv.prop(vaults[0].body, "properties").unwrap();
    assert_eq!(
        kv.text(kv.prop(props, "enableRbacAuthorization").unwrap()),
        "true"
    );
    assert!(kv.prop(props, "accessPolicies").is_none());
    for file in all_files() {
        for (key, value) in file.properties() {
            assert!(
                !(key == "enableRbacAuthorization" && file.text(value) != "true"),
                "{}: enableRbacAuthorization must be true",
                file.name()
            );
            assert_ne!(key, "accessPolicies", "{}", file.name());
        }
    }
}

#[test]
fn the_three_role_assignments_exist_with_deterministic_guid_names_and_the_right_scopes() {
    let rbac = load("infra/modules/rbac.bicep");
    let roles = rbac.variable("roles").expect("var roles");
    let role_ids: BTreeMap<String, String> = named_children(roles)
        .into_iter()
        .filter(|p| p.kind() == "object_property")
        .map(|p| {
            (
                rbac.key(p),
                rbac.string(*named_children(p).last().unwrap()).unwrap(),
            )
        })
        .collect();
    let resources = rbac.resources();
    let type_of = |symbol: &str| {
        resources
            .iter()
            .find(|r| r.symbol == symbol)
            .map(|r| r.type_name.split('@').next().unwrap().to_string())
            .unwrap_or_else(|| panic!("no resource {symbol}"))
    };
    // role id -> scope type, for the Function App's identity
    let mut app_roles = BTreeMap::new();
    let assignments = rbac.resources_of("Microsoft.Authorization/roleAssignments");
    assert!(assignments.len() >= 3);
    for a in &assignments {
        let name = rbac.prop(a.body, "name").unwrap();
        assert_eq!(
            name.kind(),
            "call_expression",
            "{}: name must be guid(...)",
            a.symbol
        );
        assert!(rbac.text(name).starts_with("guid("), "{}", a.symbol);
        let props = rbac.prop(a.body, "properties").unwrap();
        let role = rbac.text(rbac.prop(props, "roleDefinitionId").unwrap());
        assert!(
            role.starts_with("subscriptionResourceId('Microsoft.Authorization/roleDefinitions'")
        );
        let (_, id) = role_ids
            .iter()
            .find(|(k, _)| role.contains(&format!("roles.{k})")))
            .unwrap_or_else(|| panic!("{}: unknown role {role}", a.symbol));
        // the guid covers scope, principal and role, so each assignment gets its own stable name
        let guid = rbac.text(name);
        let scope = rbac.text(rbac.prop(a.body, "scope").unwrap());
        assert!(
            guid.contains(&format!("{scope}.id")) && guid.contains("roles."),
            "{guid}"
        );
        if rbac.text(rbac.prop(props, "principalId").unwrap()) == "functionAppPrincipalId" {
            assert!(guid.contains("functionAppId"), "{guid}");
            assert_eq!(
                rbac.string(rbac.prop(props, "principalType").unwrap())
                    .unwrap(),
                "ServicePrincipal"
            );
            app_roles.insert(id.clone(), type_of(scope));
        }
    }
    let expected = BTreeMap::from([
        (
            KEY_VAULT_SECRETS_USER.to_string(),
            "Microsoft.KeyVault/vaults".to_string(),
        ),
        (
            STORAGE_BLOB_DATA_OWNER.to_string(),
            "Microsoft.Storage/storageAccounts".to_string(),
        ),
        (
            MONITORING_METRICS_PUBLISHER.to_string(),
            "Microsoft.Insights/components".to_string(),
        ),
    ]);
    assert_eq!(app_roles, expected);
    let main = load("infra/main.bicep");
    let module = main
        .declarations("module_declaration")
        .into_iter()
        .find(|(m, _)| main.text(*m).contains("'modules/rbac.bicep'"))
        .expect("main.bicep uses modules/rbac.bicep");
    assert!(
        main.text(module.0)
            .contains("functionApp.outputs.principalId")
    );
}

#[test]
fn storage_is_identity_based_with_shared_keys_off() {
    let st = load("infra/modules/storage.bicep");
    let accounts = st.resources_of("Microsoft.Storage/storageAccounts");
    assert_eq!(accounts.len(), 1);
    let props = st.prop(accounts[0].body, "properties").unwrap();
    assert_eq!(
        st.text(st.prop(props, "allowSharedKeyAccess").unwrap()),
        "false"
    );
    assert_eq!(
        st.text(st.prop(props, "allowBlobPublicAccess").unwrap()),
        "false"
    );

    let app = load("infra/modules/functionapp.bicep");
    let settings: BTreeMap<String, String> = app
        .properties()
        .into_iter()
        .map(|(k, v)| (k, app.text(v).to_string()))
        .collect();
    assert_eq!(settings["AzureWebJobsStorage__accountName"], "storage.name");
    let site = &app.resources_of("Microsoft.Web/sites")[0];
    let deployment = app
        .path(site.body, &["properties", "functionAppConfig"])
        .unwrap();
    let auth = descendants(deployment)
        .into_iter()
        .filter(|n| n.kind() == "object_property")
        .find(|p| app.key(*p) == "authentication")
        .map(|p| *named_children(p).last().unwrap())
        .expect("deployment storage authentication");
    assert_eq!(
        app.string(app.prop(auth, "type").unwrap()).unwrap(),
        "SystemAssignedIdentity"
    );

    for file in all_files() {
        for (key, value) in file.properties() {
            assert!(
                key != "AzureWebJobsStorage" && !key.starts_with("WEBSITE_CONTENT"),
                "{}: {key} needs an account key",
                file.name()
            );
            if key == "allowSharedKeyAccess" {
                assert_eq!(file.text(value), "false", "{}", file.name());
            }
        }
        for banned in [
            "listKeys(",
            "listAccountSas(",
            "listServiceSas(",
            "AccountKey=",
            "DefaultEndpointsProtocol",
            "SharedAccessSignature",
            "StorageAccountConnectionString",
            "InstrumentationKey",
        ] {
            assert!(
                !file.src.contains(banned),
                "{} contains {banned}",
                file.name()
            );
        }
    }
}

#[test]
fn ledger_blobs_expire_by_a_lifecycle_rule_after_ledger_ttl_days() {
    let storage = std::fs::read_to_string("infra/modules/storage.bicep").unwrap();
    assert!(
        storage.contains("Microsoft.Storage/storageAccounts/managementPolicies"),
        "no lifecycle policy"
    );
    for prefix in [
        "'${stateContainerName}/events/'",
        "'${stateContainerName}/deliveries/'",
        "'${stateContainerName}/macs/'",
        "'${stateContainerName}/failed/'",
        "'${stateContainerName}/failedtickets/'",
        "'${stateContainerName}/progress/'",
        "'${stateContainerName}/doubt/'",
    ] {
        assert!(storage.contains(prefix), "{prefix} not expired");
    }
    // links, watermarks, claims, Reconcile's own state and unfinished work never expire here:
    // unfinished work reaching the TTL moves to a failed list, seen (CONTRACT §13)
    for kept in [
        "watch",
        "index",
        "reconcile",
        "refs",
        "tickets",
        "claims",
        "parked",
        "pending",
    ] {
        let prefix = format!("'${{stateContainerName}}/{kept}/'");
        assert!(!storage.contains(&prefix), "{prefix} must not expire");
    }
    let st = load("infra/modules/storage.bicep");
    let policy = &st.resources_of("Microsoft.Storage/storageAccounts/managementPolicies")[0];
    let prefixes: Vec<String> = descendants(policy.body)
        .into_iter()
        .filter(|n| n.kind() == "object_property" && st.key(*n) == "prefixMatch")
        .flat_map(|p| named_children(*named_children(p).last().unwrap()))
        .map(|n| st.text(n).to_string())
        .collect();
    assert_eq!(
        prefixes,
        [
            "events",
            "deliveries",
            "macs",
            "failed",
            "failedtickets",
            "progress",
            "doubt"
        ]
        .map(|k| format!("'${{stateContainerName}}/{k}/'")),
        "the rule expires exactly the ledger's expiring records"
    );
    assert!(storage.contains("daysAfterModificationGreaterThan: ledgerTtlDays"));
    let main = std::fs::read_to_string("infra/main.bicep").unwrap();
    assert!(
        main.contains("ledgerTtlDays: int(ledgerTtlDays)"),
        "the TTL parameter reaches the rule"
    );
}

#[test]
fn the_optional_cf_webhook_authorization_secret_is_stored_only_when_given_and_never_an_app_setting()
{
    // main.bicep: an optional @secure() parameter, empty by default, handed to the vault module
    let main = load("infra/main.bicep");
    let param = main
        .param("cfWebhookAuthorization")
        .expect("param cfWebhookAuthorization");
    assert!(param.decorators.iter().any(|d| d == "@secure()"));
    assert!(
        param
            .decorators
            .iter()
            .any(|d| d.starts_with("@description(") && d.contains("CF_WEBHOOK_AUTHORIZATION"))
    );
    assert_eq!(main.param_type("cfWebhookAuthorization"), "string");
    assert_eq!(
        main.string(param.default.expect("a default")).as_deref(),
        Some(""),
        "optional: empty by default"
    );
    let (kv_module, _) = main
        .declarations("module_declaration")
        .into_iter()
        .find(|(m, _)| main.text(*m).contains("'modules/keyvault.bicep'"))
        .expect("main.bicep uses modules/keyvault.bicep");
    let passed = descendants(kv_module)
        .into_iter()
        .filter(|n| n.kind() == "object_property")
        .find(|p| main.key(*p) == "cfWebhookAuthorization")
        .map(|p| main.text(*named_children(p).last().unwrap()).to_string());
    assert_eq!(passed.as_deref(), Some("cfWebhookAuthorization"));
    // it is never a setting, a parameters-file entry or an output
    let settings = main.variable("handlerSettings").unwrap();
    for p in descendants(settings)
        .into_iter()
        .filter(|n| n.kind() == "object_property")
    {
        assert_ne!(main.key(p), "CF_WEBHOOK_AUTHORIZATION");
        assert!(
            !main.text(p).contains("cfWebhookAuthorization"),
            "handlerSettings carries it: {}",
            main.text(p)
        );
    }
    assert!(
        main.outputs()
            .values()
            .all(|v| !v.contains("cfWebhookAuthorization"))
    );
    let params = super::bicep::parameters_json();
    let params_text = params.to_string();
    assert!(
        params["parameters"].get("cfWebhookAuthorization").is_none()
            && !params_text.contains("CF_WEBHOOK_AUTHORIZATION"),
        "main.parameters.json must not read the secret"
    );
    for file in all_files() {
        for (key, value) in file.properties() {
            assert_ne!(key, "CF_WEBHOOK_AUTHORIZATION", "{}", file.name());
            if file.name().ends_with("functionapp.bicep") {
                assert!(!file.text(value).contains("cfWebhookAuthorization"));
            }
        }
    }

    // keyvault.bicep: the secret cf-webhook-authorization, created only when the value is non-empty
    let kv = load("infra/modules/keyvault.bicep");
    let input = kv
        .param("cfWebhookAuthorization")
        .expect("keyvault.bicep param cfWebhookAuthorization");
    assert!(input.decorators.iter().any(|d| d == "@secure()"));
    assert!(input.default.is_none(), "main.bicep always passes it");
    let secrets = kv.resources_of("Microsoft.KeyVault/vaults/secrets");
    assert_eq!(
        secrets.len(),
        1,
        "exactly one secret comes through the template"
    );
    let secret = &secrets[0];
    assert_eq!(
        kv.string(kv.prop(secret.body, "name").unwrap()).as_deref(),
        Some("cf-webhook-authorization")
    );
    assert_eq!(kv.text(kv.prop(secret.body, "parent").unwrap()), "vault");
    assert_eq!(
        kv.text(kv.path(secret.body, &["properties", "value"]).unwrap()),
        "cfWebhookAuthorization"
    );
    let declaration = secret.body.parent().expect("the resource body's parent");
    assert_eq!(
        declaration.kind(),
        "if_statement",
        "the secret must be conditional"
    );
    let condition = named_children(declaration)[0];
    assert_eq!(
        kv.text(condition).split_whitespace().collect::<String>(),
        "(!empty(cfWebhookAuthorization))"
    );
    assert!(
        kv.outputs()
            .values()
            .all(|v| !v.contains("cfWebhookAuthorization"))
    );
    // no other template creates Key Vault secrets
    for file in all_files() {
        if !file.name().ends_with("keyvault.bicep") {
            assert!(
                file.resources_of("Microsoft.KeyVault/vaults/secrets")
                    .is_empty(),
                "{}",
                file.name()
            );
        }
    }
}

#[test]
fn an_alert_on_the_gave_up_line_reaches_the_operator_s_e_mail() {
    let monitoring = load("infra/modules/monitoring.bicep");
    let rules = monitoring.resources_of("Microsoft.Insights/scheduledQueryRules");
    assert_eq!(rules.len(), 1, "one scheduled query rule");
    let rule = &rules[0];
    let query = monitoring
        .path(rule.body, &["properties", "criteria", "allOf"])
        .map(|all| monitoring.text(all).to_string())
        .expect("criteria.allOf");
    assert!(
        query.contains(&format!("\"{}\"", cf_halo_bridge::state::work::GAVE_UP)),
        "the query looks for the handler's own line: {query}"
    );
    let scopes = monitoring
        .path(rule.body, &["properties", "scopes"])
        .map(|s| monitoring.text(s).to_string())
        .unwrap();
    assert!(scopes.contains("applicationInsights.id"), "{scopes}");
    let actions = monitoring
        .path(rule.body, &["properties", "actions", "actionGroups"])
        .map(|a| monitoring.text(a).to_string())
        .unwrap();
    assert!(actions.contains("operators.id"), "{actions}");
    let groups = monitoring.resources_of("Microsoft.Insights/actionGroups");
    assert_eq!(groups.len(), 1);
    let receivers = monitoring
        .path(groups[0].body, &["properties", "emailReceivers"])
        .map(|r| monitoring.text(r).to_string())
        .unwrap();
    assert!(
        receivers.contains("emailAddress: alertEmail"),
        "{receivers}"
    );
    assert!(monitoring.param("alertEmail").is_some());
    let main = load("infra/main.bicep");
    assert!(
        main.param("alertEmail").is_some(),
        "main.bicep takes the e-mail address"
    );
    let text = std::fs::read_to_string("infra/main.bicep").unwrap();
    assert!(text.contains("alertEmail: alertEmail"), "and passes it on");
}
