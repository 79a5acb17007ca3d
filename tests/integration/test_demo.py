"""`make demo` runs end to end and shows every vendor, the tokens and the audiences' indexing."""

import pytest

pytestmark = pytest.mark.integration


def test_the_demo_shows_all_three_vendors_the_tokens_and_indexing_applied(capsys):
    from usersync_dev import demo

    demo.main()
    out = capsys.readouterr().out
    for shown in ("Delivered (per destination)", "batch_ios", "batch_android", "clevertap", "batch_ios_audiences",
                  "Tokens saved in DynamoDB", "APPLIED vip_users", "APPLIED beta_testers",
                  "jill-2: code 514", "'Stamps': 15", "winback_2026", "early_access",
                  "Erasure receipt of ada-1815",
                  "Batch iOS holds None; CleverTap holds None; audiences holding the install id: []"):
        assert shown in out, shown
    receipt = out[out.index("Erasure receipt of ada-1815"):]
    assert all(f"{d} " in receipt for d in ("batch_android", "batch_ios", "batch_ios_audiences", "clevertap"))
    assert receipt.count("CONFIRMED") == 4
