{{ latest_versions(
    source('salesforce', 'opportunity_history'), 'id', 'system_modstamp', 'is_deleted', 'OpportunityHistory'
) }}
