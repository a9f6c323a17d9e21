{{ latest_versions(source('salesforce', 'event'), 'id', 'system_modstamp', 'is_deleted', 'Event') }}
