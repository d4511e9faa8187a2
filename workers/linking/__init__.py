"""Linking clips to the enforcement steps they document: the rule (rules.py), clock correction
(clock.py) and keeping the links in the database right as their inputs change (engine.py)."""
from workers.linking.engine import (Actor, LinkStats, decide, note_changed, on_assignment_changed,  # noqa: F401
                                    on_clock_report, on_device_registered, on_step_changed, relink_all,
                                    relink_clips, take_changed, take_lock, withdraw)
