-- Corporate amounts are the original amounts divided by the rate (to the cent), and the corporate
-- currency always converts at 1.
select
    opportunity_id,
    currency_code,
    amount,
    conversion_rate,
    amount_corporate
from {{ ref('fct_opportunities') }}
where
    (
        amount is not null and conversion_rate is not null
        and abs(amount_corporate - amount / conversion_rate) > 0.01
    )
    or (currency_code = '{{ var("corporate_currency") }}' and conversion_rate <> 1)
