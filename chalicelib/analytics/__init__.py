"""Analytics of tasks, journeys and campaigns: counters regrouped (``report``), conversions
(``conversions``), the AWS cost estimate (``aws_cost``); ``service`` is what the routes call."""
