{{ latest_versions(source('salesforce', 'task'), 'id', 'system_modstamp', 'is_deleted', 'Task') }}
