{#- ml_status is the single status row the API reads: exactly one row, always. -#}
select count(*) as status_rows
from {{ ref('ml_status') }}
having count(*) <> 1
