// cf-halo-bridge: the Azure resources for the ContraForce <-> HaloPSA custom handler.
//
// Deploy with `azd up` (azure.yaml at the repo root), or by hand:
//   az deployment sub create -l <region> -f infra/main.bicep -p environmentName=<name> -p haloAuthUrl=... (see docs/deploy-to-azure.md)
//
// Secrets are not app settings: they live in the Key Vault made here, under the names of
// CONTRACT §6 (`cf-webhook-secret`, `halo-client-secret`, ...), and the handler reads them through
// the Function App's system-assigned identity (app setting KEY_VAULT_URI). They are stored after
// provisioning; the one exception, the optional cfWebhookAuthorization, is explained at its param.
targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------
// Where and how
// ---------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used to derive a unique token for resource names.')
param environmentName string

@minLength(1)
@description('Azure region for every resource (Flex Consumption is not offered in every region: az functionapp list-flexconsumption-locations).')
param location string

@description('Resource group to create or reuse. Empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object id of the person (or pipeline) deploying. When set, it gets Key Vault Secrets Officer on the vault so it can store the secrets. azd fills it from AZURE_PRINCIPAL_ID.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
@description('Kind of principal principalId is.')
param principalType string = 'User'

@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
@description('Hosting plan: FlexConsumption (FC1, the recommended serverless plan) or ElasticPremium (EP1-EP3, always-warm instances).')
param hostingPlan string = 'FlexConsumption'

// Flex Consumption needs functionAppConfig.runtime to name a stack from its catalogue, and there
// is no Rust stack. A custom handler is switched on by host.json's customHandler.description,
// not by the stack (azure.md §1.8: the host checks HttpWorkerOptions.Description), so on Flex the
// handler runs under any listed stack. `custom`/`1.0` is in the ARM enums but missing from the
// documented Flex stack table, and an uncatalogued runtime is accepted by ARM and then fails at
// host start with a generic 500 (Azure/Azure-Functions#2666). The default is therefore a listed
// stack, python 3.12, as the official MCP custom-handler-on-Flex samples use. Switch to
// custom/1.0 only after `az functionapp list-flexconsumption-runtimes -l <region>` lists it.
@description('Flex Consumption only: functionAppConfig.runtime.name. A listed stack; the custom handler comes from host.json.')
param flexRuntimeName string = 'python'

@description('Flex Consumption only: functionAppConfig.runtime.version, a version the region lists for flexRuntimeName.')
param flexRuntimeVersion string = '3.12'

@minValue(40)
@maxValue(1000)
@description('Flex Consumption only: maximum instance count. Halo rate limits are per tenant: size HALO_RATE_LIMIT as the tenant budget divided by this.')
param flexMaximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Flex Consumption only: instance memory in MB.')
param flexInstanceMemoryMB int = 2048

@allowed([
  'EP1'
  'EP2'
  'EP3'
])
@description('Elastic Premium only: the plan size.')
param premiumSku string = 'EP1'

@minValue(1)
@maxValue(100)
@description('Elastic Premium only: maximum number of instances the plan may scale out to.')
param premiumMaximumElasticWorkerCount int = 3

@description('STATE_CONTAINER: blob container for the handler\'s state (STATE_STORE=blob), in the Function App\'s own storage account.')
param stateContainerName string = 'cf-halo-state'

// ---------------------------------------------------------------------------------------------
// Handler settings (CONTRACT §2), non-secret only. Required ones have no default: azd asks for
// them (or reads them from `azd env set <SETTING> <value>`, see main.parameters.json).
// ---------------------------------------------------------------------------------------------

@minLength(1)
@description('HALO_AUTH_URL: Halo authorisation server, e.g. https://yourname.halopsa.com/auth (the token is at /token).')
param haloAuthUrl string

@minLength(1)
@description('HALO_API_BASE_URL: Halo resource server, e.g. https://yourname.halopsa.com/api.')
param haloApiBaseUrl string

@minLength(1)
@description('HALO_CLIENT_ID: client id of the Halo API application ("Client ID and Secret (Services)"). Its secret goes to Key Vault as halo-client-secret.')
param haloClientId string

@description('HALO_TENANT: hosted Halo tenant name, sent on the token request; empty for on-premises Halo.')
param haloTenant string = ''

@minLength(1)
@description('HALO_DEFAULT_TICKETTYPE_ID: id of the ticket type new tickets get.')
param haloDefaultTicketTypeId string

@minLength(1)
@description('HALO_DEFAULT_CLIENT_ID: Halo client for ContraForce accounts missing from HALO_CLIENT_MAP.')
param haloDefaultClientId string

@minLength(1)
@description('HALO_CLOSED_STATUS_ID: Halo status id(s) meaning closed, one id or a comma list such as 9,10.')
param haloClosedStatusId string

@minLength(1)
@description('CF_API_BASE_URL: ContraForce API, e.g. https://prod.platform.contraforce.com/api/v2.')
param cfApiBaseUrl string

@minLength(1)
@description('CF_SERVICE_ACCOUNT_CLIENT_ID: ContraForce service account client id. Its secret goes to Key Vault as cf-service-account-client-secret.')
param cfServiceAccountClientId string

@minLength(1)
@description('CF_WORKSPACE_ID: ContraForce workspace of the incidents.')
param cfWorkspaceId string

@description('HALO_SCOPE: token scope.')
param haloScope string = 'all'

@description('HALO_CLIENT_MAP: accountId=clientId,... (ContraForce account -> Halo client).')
param haloClientMap string = ''

@description('HALO_PRIORITY_MAP: severity -> priority_id; must have a Low entry.')
param haloPriorityMap string = 'High=1,Medium=2,Low=3,Informational=3'

@description('HALO_TITLE_TEMPLATE: ticket summary template.')
param haloTitleTemplate string = '[CF #{incidentNumber}] {title}'

@description('HALO_TEAM: sent as team when set.')
param haloTeam string = ''

@description('HALO_CATEGORY: sent as category_1 when set.')
param haloCategory string = ''

@description('HALO_EXTERNAL_REF_FIELD_ID: keep the reference in this custom field instead of third_party_id_string.')
param haloExternalRefFieldId string = ''

@description('HALO_PRIVATE_NOTE_OUTCOME: outcome of the notes the handler writes (a number is sent as outcome_id).')
param haloPrivateNoteOutcome string = 'Private Note'

@description('HALO_INTEGRATION_AGENT_ID: actions by this agent (the API application\'s agent) are never forwarded.')
param haloIntegrationAgentId string = ''

@description('HALO_WEBHOOK_SIGNATURE_HEADER: header carrying the Halo HMAC when halo-webhook-signing-secret is used.')
param haloWebhookSignatureHeader string = 'x-signature'

@description('HALO_WEBHOOK_SIGNATURE_FORM: what Halo\'s webhook HMAC covers: body, or a signed-header form such as spaced-lines:content-length,content-type,host,x-halo-date (check-config names the one that verifies).')
param haloWebhookSignatureForm string = 'body'

@minValue(1)
@maxValue(1000)
@description('HALO_LOOKUP_MAX_PAGES: most pages of 100 tickets one date-window reference lookup reads, 1-1000. Default 10.')
param haloLookupMaxPages int = 10

@minValue(1)
@maxValue(100)
@description('HALO_BATCH_MAX: most tickets or notes one Halo call creates, 1-100 (1 sends one per call). Default 20.')
param haloBatchMax int = 20

@minValue(0)
@maxValue(3600)
@description('HALO_CREATE_GRACE_SECONDS: after a ticket create with an unknown outcome, how long a lookup that finds nothing answers 503 instead of creating, 0-3600. Default 90.')
param haloCreateGraceSeconds int = 90

@description('HALO_RATE_LIMIT: client-side Halo budget per instance, n/seconds.')
param haloRateLimit string = '300/300'

@description('CF_MAX_SKEW_SECONDS: allowed |now - X-CF-Timestamp|.')
param cfMaxSkewSeconds string = '300'

@allowed([
  'ack'
  'create'
])
@description('CF_TEST_EVENTS: ack (test deliveries create nothing) or create.')
param cfTestEvents string = 'ack'

@description('CF_CLOSE_CLASSIFICATION: sent when closing a ContraForce incident.')
param cfCloseClassification string = 'Undetermined'

@description('CF_CLOSE_CLASSIFICATION_REASON: sent when closing a ContraForce incident.')
param cfCloseClassificationReason string = 'InaccurateData'

@description('REQUEST_DEADLINE_SECONDS: upstream time one webhook may spend before answering 503 (1-220).')
param requestDeadlineSeconds string = '20'

@description('LEDGER_TTL_DAYS: processed event and delivery ids are forgotten after this many days.')
param ledgerTtlDays string = '7'

@allowed([
  'text'
  'json'
])
@description('LOG_FORMAT: text or json (json gives one object per line in Application Insights traces).')
param logFormat string = 'text'

@description('MAX_BODY_BYTES: request size cap.')
param maxBodyBytes string = '1048576'

@description('RUST_LOG: log filter.')
param rustLog string = 'info'

@allowed([
  'auto'
  'source'
  'workspace'
])
@description('CF_API_ROUTES: auto, source or workspace, the ContraForce API route shape to call (CONTRACT §8.4). Default auto.')
param cfApiRoutes string = 'auto'

@description('CF_WORKSPACE_MAP: accountId=workspaceId,... the ContraForce workspace of each account\'s incidents (CONTRACT §8.6). Default empty: every incident is in CF_WORKSPACE_ID.')
param cfWorkspaceMap string = ''

@allowed([
  'private'
  'public'
  'off'
])
@description('HALO_INVESTIGATION_NOTE: private, public or off, the Halo note for a ContraForce agent investigation (CONTRACT §10.1). Default private.')
param haloInvestigationNote string = 'private'

@description('HALO_INVESTIGATION_ACTIONS: Classification=close or Classification=priority:<id>, comma list (CONTRACT §10.1). Default empty: no action.')
param haloInvestigationActions string = ''

@allowed([
  'true'
  'false'
])
@description('CF_INVESTIGATION_CREATES: true or false, whether an investigation of an incident without a ticket creates one. Default true.')
param cfInvestigationCreates string = 'true'

@allowed([
  'private'
  'public'
  'off'
])
@description('CF_COMMENTS_TO_HALO: private, public or off, ContraForce comments copied to the Halo ticket by Reconcile (CONTRACT §10.2). Default private.')
param cfCommentsToHalo string = 'private'

@allowed([
  'true'
  'false'
])
@description('HALO_CLOSE_ON_CF_CLOSE: true or false, whether Reconcile closes the Halo ticket when its ContraForce incident is closed (CONTRACT §10.2). Default false.')
param haloCloseOnCfClose string = 'false'

// The Reconcile timer function (CONTRACT §9). Its function.json binds
// "schedule": "%RECONCILE_SCHEDULE%", which the host resolves from the app setting when it indexes
// the functions: the setting must always be present and non-empty, or the host cannot load
// Reconcile. Hence @minLength(1) and the template always writing it.
@minLength(1)
@description('RECONCILE_SCHEDULE: NCRONTAB schedule of the Reconcile timer function, six fields with seconds. Default 0 */5 * * * * (every 5 minutes).')
param reconcileSchedule string = '0 */5 * * * *'

// The three integers are int parameters so Bicep can bound them; azd turns the string from
// main.parameters.json into an int, and an unset variable leaves the default.
@minValue(10)
@maxValue(600)
@description('RECONCILE_DEADLINE_SECONDS: the longest one reconcile run may take, 10-600 seconds. Default 240.')
param reconcileDeadlineSeconds int = 240

@description('RECONCILE_BUDGET_SHARE: the share (above 0, at most 1) of HALO_RATE_LIMIT\'s calls reconcile runs may use in any window. Default 0.5.')
param reconcileBudgetShare string = '0.5'

@minValue(1)
@maxValue(10080)
@description('RECONCILE_LOOKBACK_MINUTES: how far back the first sweep of updated Halo tickets looks, 1-10080 minutes (a week). Default 60.')
param reconcileLookbackMinutes int = 60

@description('E-mail address told when Reconcile gives up on a work item (the alert on its error line); empty: the alert fires with no one told.')
param alertEmail string = ''

@minValue(1)
@maxValue(3650)
@description('RECONCILE_WATCH_DAYS: a CF-linked ticket closed on both sides and idle this many days is no longer watched, 1-3650. Default 30.')
param reconcileWatchDays int = 30

@minValue(0)
@maxValue(10000)
@description('RECONCILE_MAX_TICKETS: most CF-linked tickets one reconcile run checks in ContraForce, 0-10000 (0: none). Default 200.')
param reconcileMaxTickets int = 200

// ---------------------------------------------------------------------------------------------
// The one secret the template may carry
// ---------------------------------------------------------------------------------------------

// CF_WEBHOOK_AUTHORIZATION (CONTRACT §8.3) is a secret like the others and is never an app
// setting: the handler reads it from Key Vault as cf-webhook-authorization. Unlike the others it
// may come through the template, because it is a value the operator chooses when configuring the
// ContraForce webhook with Basic or Bearer credentials (and can type again at any time), not one
// a portal shows once or an upstream issues, which are stored by hand after provisioning. As a
// @secure() parameter it never appears in deployment history or outputs. Empty (the default): no
// secret is created, and an existing one is left as it is (a later provision without the value
// does not erase it); store or change it by hand with `az keyvault secret set` as the README says.
@secure()
@description('CF_WEBHOOK_AUTHORIZATION: optional. The exact Authorization header value the ContraForce webhook sends (e.g. Bearer <token>); stored in Key Vault as cf-webhook-authorization when non-empty, never an app setting.')
param cfWebhookAuthorization string = ''

// ---------------------------------------------------------------------------------------------

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var serviceName = 'bridge'
var functionAppName = '${abbrs.webSitesFunctions}${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    alertRuleName: 'alert-gave-up-${resourceToken}'
    actionGroupName: 'ag-${resourceToken}'
    alertEmail: alertEmail
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    containerNames: [
      deploymentContainerName
      stateContainerName
    ]
    stateContainerName: stateContainerName
    ledgerTtlDays: int(ledgerTtlDays)
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    cfWebhookAuthorization: cfWebhookAuthorization
  }
}

// What the handler reads (CONTRACT §2). The secret settings (CF_WEBHOOK_AUTHORIZATION included)
// are absent on purpose: with KEY_VAULT_URI set the handler fetches them from the vault
// (CONTRACT §6). App settings are strings, hence string() around the int parameters.
var handlerSettings = {
  KEY_VAULT_URI: keyVault.outputs.uri
  STATE_STORE: 'blob'
  STATE_CONTAINER: stateContainerName
  HALO_AUTH_URL: haloAuthUrl
  HALO_API_BASE_URL: haloApiBaseUrl
  HALO_CLIENT_ID: haloClientId
  HALO_TENANT: haloTenant
  HALO_SCOPE: haloScope
  HALO_DEFAULT_TICKETTYPE_ID: haloDefaultTicketTypeId
  HALO_DEFAULT_CLIENT_ID: haloDefaultClientId
  HALO_CLOSED_STATUS_ID: haloClosedStatusId
  HALO_CLIENT_MAP: haloClientMap
  HALO_PRIORITY_MAP: haloPriorityMap
  HALO_TITLE_TEMPLATE: haloTitleTemplate
  HALO_TEAM: haloTeam
  HALO_CATEGORY: haloCategory
  HALO_EXTERNAL_REF_FIELD_ID: haloExternalRefFieldId
  HALO_PRIVATE_NOTE_OUTCOME: haloPrivateNoteOutcome
  HALO_INTEGRATION_AGENT_ID: haloIntegrationAgentId
  HALO_WEBHOOK_SIGNATURE_HEADER: haloWebhookSignatureHeader
  HALO_WEBHOOK_SIGNATURE_FORM: haloWebhookSignatureForm
  HALO_LOOKUP_MAX_PAGES: string(haloLookupMaxPages)
  HALO_BATCH_MAX: string(haloBatchMax)
  HALO_CREATE_GRACE_SECONDS: string(haloCreateGraceSeconds)
  HALO_RATE_LIMIT: haloRateLimit
  CF_API_BASE_URL: cfApiBaseUrl
  CF_SERVICE_ACCOUNT_CLIENT_ID: cfServiceAccountClientId
  CF_WORKSPACE_ID: cfWorkspaceId
  CF_MAX_SKEW_SECONDS: cfMaxSkewSeconds
  CF_TEST_EVENTS: cfTestEvents
  CF_CLOSE_CLASSIFICATION: cfCloseClassification
  CF_CLOSE_CLASSIFICATION_REASON: cfCloseClassificationReason
  REQUEST_DEADLINE_SECONDS: requestDeadlineSeconds
  LEDGER_TTL_DAYS: ledgerTtlDays
  LOG_FORMAT: logFormat
  MAX_BODY_BYTES: maxBodyBytes
  RUST_LOG: rustLog
  CF_API_ROUTES: cfApiRoutes
  CF_WORKSPACE_MAP: cfWorkspaceMap
  RECONCILE_SCHEDULE: reconcileSchedule
  RECONCILE_DEADLINE_SECONDS: string(reconcileDeadlineSeconds)
  RECONCILE_BUDGET_SHARE: reconcileBudgetShare
  RECONCILE_LOOKBACK_MINUTES: string(reconcileLookbackMinutes)
  RECONCILE_MAX_TICKETS: string(reconcileMaxTickets)
  RECONCILE_WATCH_DAYS: string(reconcileWatchDays)
  HALO_INVESTIGATION_NOTE: haloInvestigationNote
  HALO_INVESTIGATION_ACTIONS: haloInvestigationActions
  CF_INVESTIGATION_CREATES: cfInvestigationCreates
  CF_COMMENTS_TO_HALO: cfCommentsToHalo
  HALO_CLOSE_ON_CF_CLOSE: haloCloseOnCfClose
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    location: location
    tags: union(tags, {
      'azd-service-name': serviceName
    })
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    hostingPlan: hostingPlan
    flexRuntimeName: flexRuntimeName
    flexRuntimeVersion: flexRuntimeVersion
    flexMaximumInstanceCount: flexMaximumInstanceCount
    flexInstanceMemoryMB: flexInstanceMemoryMB
    premiumSku: premiumSku
    premiumMaximumElasticWorkerCount: premiumMaximumElasticWorkerCount
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    handlerSettings: handlerSettings
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    functionAppId: functionApp.outputs.id
    functionAppPrincipalId: functionApp.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_HOSTNAME string = functionApp.outputs.defaultHostName
// The function URLs without their key: append ?code=<function key> (docs/deploy-to-azure.md).
output CF_TO_HALO_URL string = 'https://${functionApp.outputs.defaultHostName}/api/CfToHalo'
output HALO_TO_CF_URL string = 'https://${functionApp.outputs.defaultHostName}/api/HaloToCf'
output KEY_VAULT_NAME string = keyVault.outputs.name
output KEY_VAULT_URI string = keyVault.outputs.uri
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
