{#-
    Dated conversion rates as non-overlapping validity ranges [valid_from, valid_to) per currency.
    valid_to is NextStartDate, cut at the next StartDate when NextStartDate is missing or overlaps
    the next range, so a date never matches two rates.
-#}
with dated_rates as (

    select * from {{ ref('stg_salesforce__dated_conversion_rates') }}

),

with_next_start as (

    select
        dated_conversion_rate_id,
        currency_code,
        conversion_rate,
        start_date,
        next_start_date,
        lead(start_date) over (partition by currency_code order by start_date) as following_start_date
    from dated_rates

),

final as (

    select
        dated_conversion_rate_id,
        currency_code,
        conversion_rate,
        start_date as valid_from,
        case
            when next_start_date is null then following_start_date
            when following_start_date is null then next_start_date
            when following_start_date < next_start_date then following_start_date
            else next_start_date
        end as valid_to
    from with_next_start

)

select * from final
