"""Audiences: who a campaign or journey reaches. ``schemas`` validates rule sources,
``rules`` says what they mean (the evaluator shared by builds, estimates and journeys)."""
