"""`make demo` runs end to end and shows every vendor, the tokens and the audiences' indexing."""

import re

import pytest

pytestmark = pytest.mark.integration


def test_the_demo_shows_every_vendor_the_tokens_and_indexing_applied(capsys):
    from usersync_dev import demo

    demo.main()
    out = capsys.readouterr().out
    for shown in ("Delivered (per destination)", "batch_ios", "batch_android", "clevertap", "batch_ios_audiences",
                  "Tokens saved in DynamoDB", "APPLIED vip_users", "APPLIED beta_testers",
                  "jill-2: code 514", "'Stamps': 15", "winback_2026", "early_access",
                  "batch_profile", "Profile of vincent-42 as the Batch project", "'$timezone': 'Europe/Paris'",
                  "'signup': '2016-08-31T15:09:21Z'",
                  "Erasure receipt of ada-1815",
                  "Batch iOS holds None; CleverTap holds None; audiences holding the install id: []"):
        assert shown in out, shown
    receipt = out[out.index("Erasure receipt of ada-1815"):]
    assert all(f"{d} " in receipt for d in ("batch_android", "batch_ios", "batch_ios_audiences", "clevertap"))
    assert receipt.count("CONFIRMED") == 4
    assert "FAILED" in receipt and "UNSUPPORTED_OPERATION" in receipt  # batch_profile: Batch has no delete route
    # the files went to the mass-update route, and every call of it is applied by the end
    mass = re.search(r"profiles/mass-update\s+\((\d+)\s+calls,\s+(\d+)\s+profiles.*?;\s+(\d+)\s+applied\s+by\s+now",
                     out, re.DOTALL)
    assert mass and int(mass[1]) > 0 and int(mass[2]) > 0 and mass[3] == mass[1], mass and mass.groups()
