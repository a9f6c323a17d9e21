{{ latest_versions(source('salesforce', 'opportunity'), 'id', 'system_modstamp', 'is_deleted', 'Opportunity') }}
