"""The assessments service: Episodes, lead professional, assessments, TAF plans, reviews, step-up/down and closure."""
