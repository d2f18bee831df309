//! What azd and the operator see: the outputs, the parameters file, the service tag and the
//! deploy guide.

use super::bicep::{load, parameters_json};
use super::contract::{key_vault_name, secret_settings};

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
