//! Offline checks of the Bicep under `infra/` (issue 6): every file parses with the
//! tree-sitter-bicep grammar, and the structure the deployment depends on holds (RBAC-only Key
//! Vault, the three role assignments with deterministic names, identity-based storage, no secret
//! literals, every setting the handler needs provided by the template or a documented parameter).
//! `bicep build`/`what-if` need Azure's tooling and stay in a connected CI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tree_sitter::{Node, Parser, Tree};

const KEY_VAULT_SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";
const STORAGE_BLOB_DATA_OWNER: &str = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
const MONITORING_METRICS_PUBLISHER: &str = "3913510d-42f4-4e42-8a64-420c390055eb";

// ----------------------------------------------------------------------------------------------
// A small view of a parsed Bicep file.
// ----------------------------------------------------------------------------------------------

struct Bicep {
    path: PathBuf,
    src: String,
    tree: Tree,
}

struct Param<'t> {
    name: String,
    default: Option<Node<'t>>,
    decorators: Vec<String>,
}

struct Resource<'t> {
    symbol: String,
    type_name: String,
    existing: bool,
    body: Node<'t>,
}

fn parse_source(src: &str) -> Tree {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_bicep::LANGUAGE.into())
        .expect("the bicep grammar loads");
    parser.parse(src, None).expect("parse")
}

impl Bicep {
    fn load(path: &Path) -> Bicep {
        let src =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let tree = parse_source(&src);
        Bicep {
            path: path.to_path_buf(),
            src,
            tree,
        }
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn text(&self, node: Node) -> &str {
        &self.src[node.byte_range()]
    }

    fn root(&self) -> Node<'_> {
        self.tree.root_node()
    }

    /// Top-level declarations of one kind, each with the decorators written above it.
    fn declarations(&self, kind: &str) -> Vec<(Node<'_>, Vec<String>)> {
        let mut out = Vec::new();
        let mut pending = Vec::new();
        let root = self.root();
        for i in 0..root.named_child_count() {
            let node = root.named_child(i as u32).unwrap();
            match node.kind() {
                "decorators" => {
                    for d in named_children(node) {
                        pending.push(self.text(d).to_string());
                    }
                }
                "comment" => {}
                k => {
                    if k == kind {
                        out.push((node, std::mem::take(&mut pending)));
                    } else {
                        pending.clear();
                    }
                }
            }
        }
        out
    }

    fn params(&self) -> Vec<Param<'_>> {
        self.declarations("parameter_declaration")
            .into_iter()
            .map(|(node, decorators)| {
                let children = named_children(node);
                Param {
                    name: self.text(children[0]).to_string(),
                    default: children.get(2).copied(),
                    decorators,
                }
            })
            .collect()
    }

    fn param(&self, name: &str) -> Option<Param<'_>> {
        self.params().into_iter().find(|p| p.name == name)
    }

    fn variable(&self, name: &str) -> Option<Node<'_>> {
        self.declarations("variable_declaration")
            .into_iter()
            .map(|(n, _)| named_children(n))
            .find(|c| self.text(c[0]) == name)
            .map(|c| c[1])
    }

    fn outputs(&self) -> BTreeMap<String, String> {
        self.declarations("output_declaration")
            .into_iter()
            .map(|(n, _)| {
                let c = named_children(n);
                (
                    self.text(c[0]).to_string(),
                    self.text(*c.last().unwrap()).to_string(),
                )
            })
            .collect()
    }

    fn resources(&self) -> Vec<Resource<'_>> {
        self.declarations("resource_declaration")
            .into_iter()
            .map(|(node, _)| {
                let children = named_children(node);
                let mut cursor = node.walk();
                let existing = node.children(&mut cursor).any(|c| c.kind() == "existing");
                let body = descendants(node)
                    .into_iter()
                    .find(|n| n.kind() == "object")
                    .expect("resource body");
                Resource {
                    symbol: self.text(children[0]).to_string(),
                    type_name: self.string(children[1]).expect("resource type"),
                    existing,
                    body,
                }
            })
            .collect()
    }

    /// The resources of one type this file declares (not `existing` references).
    fn resources_of(&self, type_prefix: &str) -> Vec<Resource<'_>> {
        self.resources()
            .into_iter()
            .filter(|r| !r.existing && r.type_name.starts_with(&format!("{type_prefix}@")))
            .collect()
    }

    /// The value of the property `key` directly inside `object`.
    fn prop<'t>(&self, object: Node<'t>, key: &str) -> Option<Node<'t>> {
        named_children(object)
            .into_iter()
            .filter(|p| p.kind() == "object_property")
            .find(|p| self.key(*p) == key)
            .map(|p| *named_children(p).last().unwrap())
    }

    /// Follows a path of property names from `object`.
    fn path<'t>(&self, object: Node<'t>, keys: &[&str]) -> Option<Node<'t>> {
        keys.iter()
            .try_fold(object, |node, key| self.prop(node, key))
    }

    fn key(&self, property: Node) -> String {
        let key = named_children(property)[0];
        self.string(key)
            .unwrap_or_else(|| self.text(key).to_string())
    }

    /// Every object property in the file: (key, value).
    fn properties(&self) -> Vec<(String, Node<'_>)> {
        descendants(self.root())
            .into_iter()
            .filter(|n| n.kind() == "object_property")
            .map(|p| (self.key(p), *named_children(p).last().unwrap()))
            .collect()
    }

    /// The literal value of a string without interpolation.
    fn string(&self, node: Node) -> Option<String> {
        if node.kind() != "string"
            || named_children(node)
                .iter()
                .any(|c| c.kind() == "interpolation")
        {
            return None;
        }
        let raw = self.text(node);
        let inner = &raw[1..raw.len() - 1];
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(other) => out.push(other),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        Some(out)
    }
}

fn named_children(node: Node) -> Vec<Node> {
    (0..node.named_child_count())
        .map(|i| node.named_child(i as u32).unwrap())
        .collect()
}

fn descendants(node: Node) -> Vec<Node> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        out.push(n);
        let mut children = named_children(n);
        children.reverse();
        stack.extend(children);
    }
    out
}

fn bicep_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "bicep") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("infra"), &mut out);
    out.sort();
    out
}

fn load(path: &str) -> Bicep {
    let file = Bicep::load(Path::new(path));
    assert!(!file.root().has_error(), "{path} does not parse");
    file
}

fn all_files() -> Vec<Bicep> {
    bicep_files().iter().map(|p| Bicep::load(p)).collect()
}

fn parameters_json() -> Value {
    let text = std::fs::read_to_string("infra/main.parameters.json").unwrap();
    serde_json::from_str(&text).expect("infra/main.parameters.json is JSON")
}

// ----------------------------------------------------------------------------------------------
// What the contract says the handler needs.
// ----------------------------------------------------------------------------------------------

fn contract() -> String {
    std::fs::read_to_string("../shared/spec/CONTRACT.md").expect("../shared/spec/CONTRACT.md")
}

fn setting_names(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.len() > 3
                && w.contains('_')
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("CONTRACT lacks {start:?}"));
    let rest = &text[from..];
    &rest[..rest
        .find(end)
        .unwrap_or_else(|| panic!("CONTRACT lacks {end:?}"))]
}

/// CONTRACT §2 "Required for CfToHalo/HaloToCf".
fn required_settings() -> BTreeSet<String> {
    let c = contract();
    let names = setting_names(between(
        &c,
        "Required for CfToHalo:",
        "A function whose required",
    ));
    assert!(
        names.contains("HALO_CLOSED_STATUS_ID") && names.len() >= 14,
        "{names:?}"
    );
    names
}

/// CONTRACT §6: the settings that come from Key Vault.
fn secret_settings() -> BTreeSet<String> {
    let c = contract();
    let names = setting_names(between(
        &c,
        "the secret settings",
        "are read from Key Vault",
    ));
    assert!(
        names.contains("CF_WEBHOOK_SECRET") && names.len() >= 7,
        "{names:?}"
    );
    names
}

/// CONTRACT §2's optional table: setting → default ("" for none).
fn optional_defaults() -> BTreeMap<String, String> {
    let c = contract();
    let section = between(&c, "Optional, with defaults:", "Malformed values");
    let mut out = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let names: Vec<String> = setting_names(cells[1]).into_iter().collect();
        let names: Vec<String> = cells[1]
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|n| names.iter().any(|m| m == n))
            .map(str::to_string)
            .collect();
        let defaults: Vec<String> = if cells[2] == "–" {
            vec![String::new(); names.len()]
        } else if cells[2].contains('`') {
            cells[2]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        } else {
            vec![cells[2].to_string()]
        };
        assert_eq!(names.len(), defaults.len(), "{row}");
        out.extend(names.into_iter().zip(defaults));
    }
    assert!(out.len() >= 25, "{out:?}");
    out
}

fn key_vault_name(setting: &str) -> String {
    setting.to_lowercase().replace('_', "-")
}

// ----------------------------------------------------------------------------------------------
// The tests.
// ----------------------------------------------------------------------------------------------

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
            assert!(
                !((looks_secret(&p.name) || secure) && p.default.is_some()),
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
        if value.kind() != "identifier" {
            continue; // computed by the template
        }
        let name = main.text(*value);
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
            let default = main
                .string(
                    param
                        .default
                        .unwrap_or_else(|| panic!("{setting}: no default")),
                )
                .unwrap();
            assert_eq!(
                default, defaults[setting],
                "{setting}: default differs from CONTRACT §2"
            );
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

#[test]
fn outputs_give_the_function_urls_and_the_vault_and_the_site_is_tagged_for_azd() {
    let main = load("infra/main.bicep");
    let outputs = main.outputs();
    for name in [
        "FUNCTION_APP_NAME",
        "FUNCTION_APP_HOSTNAME",
        "CF_TO_HALO_URL",
        "HALO_TO_CF_URL",
        "KEY_VAULT_NAME",
        "KEY_VAULT_URI",
    ] {
        assert!(outputs.contains_key(name), "output {name} missing");
    }
    assert!(
        outputs["CF_TO_HALO_URL"].ends_with("/api/CfToHalo'"),
        "{}",
        outputs["CF_TO_HALO_URL"]
    );
    assert!(
        outputs["HALO_TO_CF_URL"].ends_with("/api/HaloToCf'"),
        "{}",
        outputs["HALO_TO_CF_URL"]
    );
    assert!(
        outputs
            .values()
            .all(|v| !v.contains("code=") && !v.contains("listKeys"))
    );

    let service = main.string(main.variable("serviceName").unwrap()).unwrap();
    let tag = main
        .properties()
        .into_iter()
        .find(|(k, _)| k == "azd-service-name")
        .expect("azd-service-name tag");
    assert_eq!(main.text(tag.1), "serviceName");
    let azure_yaml = std::fs::read_to_string("azure.yaml").unwrap();
    assert!(
        azure_yaml.lines().any(|l| l == format!("  {service}:")),
        "azure.yaml must define the service {service}"
    );
    let params = parameters_json();
    assert_eq!(
        params["parameters"]["environmentName"]["value"],
        "${AZURE_ENV_NAME}"
    );
    assert_eq!(
        params["parameters"]["location"]["value"],
        "${AZURE_LOCATION}"
    );
    // every parameter the file sets exists in main.bicep
    for name in params["parameters"].as_object().unwrap().keys() {
        assert!(
            main.param(name).is_some(),
            "main.parameters.json sets unknown {name}"
        );
    }
}

#[test]
fn the_deploy_guide_names_every_key_vault_secret() {
    // The "Deploy to Azure" guide: docs/deploy-to-azure.md, or the README once merged into it.
    let guide: String = ["docs/deploy-to-azure.md", "README.md"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    for setting in secret_settings() {
        let name = key_vault_name(&setting);
        assert!(
            guide.contains(&format!("`{name}`")),
            "the deploy guide lacks `{name}`"
        );
    }
    for needed in [
        "azd config set alpha.language.custom on",
        "func azure functionapp publish",
        "az functionapp deploy",
        "func start",
        "X-Halo-Secret",
        "incident.created.v1",
    ] {
        assert!(guide.contains(needed), "the deploy guide lacks {needed}");
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
    ] {
        assert!(storage.contains(prefix), "{prefix} not expired");
    }
    assert!(storage.contains("daysAfterModificationGreaterThan: ledgerTtlDays"));
    let main = std::fs::read_to_string("infra/main.bicep").unwrap();
    assert!(
        main.contains("ledgerTtlDays: int(ledgerTtlDays)"),
        "the TTL parameter reaches the rule"
    );
}
