"""The reviewer's console in the Django admin. Open `pages.py` first.

`pages` holds the overview and the review queue, built from `overview`'s
aggregates and `charts`' server-side SVG; `blocking` the two-click blocks
with their confirmation page; `site` the admin site itself (staff login,
optional TOTP). The ModelAdmins are in inference_api/admin.py, where
Django looks for them.
"""
