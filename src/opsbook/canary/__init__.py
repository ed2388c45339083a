"""The canary gate: measure a canary and its baseline with metric providers, judge each metric
(Argo Rollouts' conditions, Kayenta's baseline comparison) and decide: promote, roll back, hold."""
