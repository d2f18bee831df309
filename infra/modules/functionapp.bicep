// The hosting plan and the Linux Function App that runs the Rust custom handler (host.json's
// customHandler starts ./handler). System-assigned identity; host storage, telemetry and Key
// Vault are all reached through it (role assignments in rbac.bicep).

param location string
param tags object
param name string
param planName string

@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string

@description('Flex only: a runtime stack the region lists (see main.bicep for why not custom).')
param flexRuntimeName string
param flexRuntimeVersion string
param flexMaximumInstanceCount int
param flexInstanceMemoryMB int

param premiumSku string
param premiumMaximumElasticWorkerCount int

param storageAccountName string

@description('Flex only: blob container that holds the deployment package.')
param deploymentContainerName string

param applicationInsightsName string

@description('The handler\'s non-secret settings (CONTRACT §2), KEY_VAULT_URI and the state store.')
param handlerSettings object

var isFlex = hostingPlan == 'FlexConsumption'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex
    ? {
        name: 'FC1'
        tier: 'FlexConsumption'
      }
    : {
        name: premiumSku
        tier: 'ElasticPremium'
      }
  properties: {
    reserved: true // Linux
    maximumElasticWorkerCount: isFlex ? null : premiumMaximumElasticWorkerCount
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    reserved: true
    httpsOnly: true
    // Flex: the package is pulled from the deployment container with the site's identity.
    functionAppConfig: isFlex
      ? {
          deployment: {
            storage: {
              type: 'blobContainer'
              value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
              authentication: {
                type: 'SystemAssignedIdentity'
              }
            }
          }
          scaleAndConcurrency: {
            maximumInstanceCount: flexMaximumInstanceCount
            instanceMemoryMB: flexInstanceMemoryMB
          }
          runtime: {
            name: flexRuntimeName
            version: flexRuntimeVersion
          }
        }
      : null
    siteConfig: isFlex
      ? {
          minTlsVersion: '1.2'
          ftpsState: 'Disabled'
        }
      : {
          // Elastic Premium: no language stack; the host runs the custom handler.
          linuxFxVersion: ''
          minTlsVersion: '1.2'
          ftpsState: 'Disabled'
          minimumElasticInstanceCount: 1
        }
  }
}

// Host storage and telemetry through the managed identity: no connection string, no key.
var platformSettings = {
  AzureWebJobsStorage__accountName: storage.name
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
}

// Flex rejects these (its runtime comes from functionAppConfig). Elastic Premium needs them:
// FUNCTIONS_WORKER_RUNTIME=custom for the custom handler, and since shared keys are off there is
// no Azure Files content share (WEBSITE_CONTENT* would need an account key), so the app runs from
// the deployed package (WEBSITE_RUN_FROM_PACKAGE=1).
var premiumSettings = isFlex
  ? {}
  : {
      FUNCTIONS_WORKER_RUNTIME: 'custom'
      FUNCTIONS_EXTENSION_VERSION: '~4'
      WEBSITE_RUN_FROM_PACKAGE: '1'
    }

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(platformSettings, premiumSettings, handlerSettings)
}

output id string = site.id
output name string = site.name
output principalId string = site.identity.principalId
output defaultHostName string = site.properties.defaultHostName
