"""Audiences: who a campaign or journey reaches. ``schemas`` validates rule sources, ``rules``
says what they mean (the evaluator shared by builds, estimates and journeys), ``rfm`` and
``aipl`` score users, ``members``/``builder``/``repo`` keep snapshots of packed members."""
