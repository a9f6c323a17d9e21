-- History rows are immutable: a row seen in several extracts is the same fact, kept once.
{{ latest_versions(source('salesforce', 'lead_history'), 'id', 'created_date', none, 'LeadHistory') }}
