-- TEMP H4 DEV PLACEHOLDER: do not commit
select cast(null as varchar) as review_id, cast(null as varchar) as shop_customer_id, cast(null as varchar) as text, cast(null as timestamptz) as created_at where false
