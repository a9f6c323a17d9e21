{#-
    Whether an opportunity state is closed / won, by the stage semantics of fct_opportunities (its
    precedence, docs/DECISIONLOG.md "Won/closed from the stage seed"): the landed OpportunityStage, then
    the record's own IsClosed/IsWon (IsWon implies closed; not closed implies not won), then the stage
    seeds; false when none says anything. `stages` names the int_opportunity_stages_resolved relation
    (left-joined on the stage name); the two flag arguments are the record's IsClosed/IsWon (null when
    unknown). fct_opportunities and int_opportunity_states_ranged both call them.
-#}
{% macro opportunity_is_closed(stages, is_closed_in_source, is_won_in_source) -%}
    case
        when {{ stages }}.flags_source = 'landed' then {{ stages }}.is_closed
        else
            coalesce(
                case when {{ is_won_in_source }} then true else {{ is_closed_in_source }} end,
                case when {{ stages }}.flags_source in ('seed', 'seed_newer_orgs') then {{ stages }}.is_closed end,
                false
            )
    end
{%- endmacro %}

{% macro opportunity_is_won(stages, is_closed_in_source, is_won_in_source) -%}
    case
        when {{ stages }}.flags_source = 'landed' then {{ stages }}.is_won
        else
            coalesce(
                case when {{ is_closed_in_source }} = false then false else {{ is_won_in_source }} end,
                case when {{ stages }}.flags_source in ('seed', 'seed_newer_orgs') then {{ stages }}.is_won end,
                false
            )
    end
{%- endmacro %}
