// The vault holding the handler's secrets (CONTRACT §6: the setting name in lower case with `-`
// for `_`, e.g. cf-webhook-secret). Access is by Azure RBAC only (no access policies); the
// Function App's identity gets Key Vault Secrets User in rbac.bicep.

param location string
param tags object

@minLength(3)
@maxLength(24)
param name string

@description('Days a deleted secret or vault can be recovered.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

// CF_WEBHOOK_AUTHORIZATION (CONTRACT §8.3): main.bicep explains why this one secret may come
// through the template. Empty: the secret is not deployed (and one stored earlier is kept).
@secure()
@description('CF_WEBHOOK_AUTHORIZATION: the exact Authorization header value of the ContraForce webhook, or empty.')
param cfWebhookAuthorization string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri

// Created through the control plane (Microsoft.KeyVault/vaults/secrets/write, which the deploying
// Contributor/Owner has), so no data-plane role is needed for it; the handler reads it like the
// others through its Key Vault Secrets User role.
resource cfWebhookAuthorizationSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(cfWebhookAuthorization)) {
  parent: vault
  name: 'cf-webhook-authorization'
  properties: {
    value: cfWebhookAuthorization
    contentType: 'ContraForce webhook Authorization header value'
  }
}
