{{ latest_versions(source('salesforce', 'lead'), 'id', 'system_modstamp', 'is_deleted', 'Lead') }}
