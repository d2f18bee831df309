// The Function App's storage account: host storage (AzureWebJobsStorage__accountName, through the
// managed identity), the Flex deployment package container and the handler's state container.
// Shared-key access is off, so there is no connection string or account key anywhere.

param location string
param tags object

@minLength(3)
@maxLength(24)
param name string

@description('Blob containers to create (the Flex deployment container and the state container).')
param containerNames array

@description('The handler\'s state container, whose ledger blobs expire.')
param stateContainerName string

@description('LEDGER_TTL_DAYS: the ledger\'s expiring records (event and delivery ids, parked, failed and pending work, ...) are deleted after this many days.')
param ledgerTtlDays int

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for containerName in containerNames: {
    parent: blobService
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob

// The handler already ignores ledger entries older than LEDGER_TTL_DAYS; this rule deletes them
// so the state container does not grow. The expiring records are the processed event and
// delivery ids (events/, deliveries/), the webhook MACs (macs/), the failed events and tickets
// (failed/, failedtickets/: their error line was alerted on), the progress records (progress/)
// and the creates in doubt (doubt/). Unfinished work (parked/, pending/) is never deleted here:
// Reconcile moves it to a failed list, seen, when it reaches LEDGER_TTL_DAYS (CONTRACT §13).
// Links and watermarks (refs/, tickets/), watched tickets and their due index (watch/, index/),
// claims (claims/) and Reconcile's own state (reconcile/) are never touched.
resource ledgerExpiry 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          enabled: true
          name: 'expire-ledger'
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${stateContainerName}/events/'
                '${stateContainerName}/deliveries/'
                '${stateContainerName}/macs/'
                '${stateContainerName}/failed/'
                '${stateContainerName}/failedtickets/'
                '${stateContainerName}/progress/'
                '${stateContainerName}/doubt/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: ledgerTtlDays
                }
              }
            }
          }
        }
      ]
    }
  }
}
