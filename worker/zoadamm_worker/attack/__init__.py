"""Black-box adversarial attacks on a classifier behind REST: the victim, the attack's
objective, the runners (ours and the peers'), and the report."""
