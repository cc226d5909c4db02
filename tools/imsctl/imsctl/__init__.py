"""``imsctl``: the operator's command line for the full-ECS image system.

Produce contract events, call the IMS, CBR and billing APIs as a development tenant, follow a topic, and show
the trail of one image or backup across every service. ``imsctl --help`` lists the commands.
"""
