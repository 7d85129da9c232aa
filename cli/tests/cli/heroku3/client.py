"""heroku3 (PyPI), Heroku's Python client, driven against a live `kumo server`.

Run by cli/tests/cli/heroku3.rs as `python client.py API_URL TOKEN CA_PEM`.
Pointing heroku3 at Kumo takes three lines, as the README shows:

    from heroku3.api import Heroku
    h = Heroku(requests.Session())
    h._heroku_url = "http://127.0.0.1:5000"
    h.authenticate(token)

and, for `run_command(attach=True)`, Kumo's CA trusted by heroku3's rendezvous
(it reads only its own bundle, `heroku3/data/cacert.pem`).
"""

import sys

import heroku3.models.app
import heroku3.rendezvous
import requests
from heroku3.api import Heroku

api, token, ca = sys.argv[1:4]


def check(what, value, expected):
    if value != expected:
        sys.exit(f"{what}: got {value!r}, expected {expected!r}")
    print(f"ok {what}")


h = Heroku(requests.Session())
h._heroku_url = api
h.authenticate(token)
check("account", h.account().email, "admin@kumo.local")

names = [a.name for a in h.apps()]
check("apps", sorted(n for n in names if n.startswith("h3")), ["h3run", "h3web"])
app = h.app("h3web")
check("app", app.name, "h3web")

# Config vars: each change a release.
app.update_config({"FOO": "bar", "BAZ": "qux"})
config = app.config()
check("config FOO", config["FOO"], "bar")
config["BAZ"] = None
check("config BAZ unset", "BAZ" in app.config().to_dict(), False)
releases = app.releases()
check("release descriptions", [r.description for r in releases][-2:],
      ["Set BAZ, FOO config vars", "Remove BAZ config vars"])
check("release version", releases[-1].version, 3)
rolled = app.rollback("v2")
check("rollback", rolled.description, "Rollback to v2")

# Formation and dynos.
formation = app.process_formation()
check("formation web", formation["web"].quantity, 1)
app.scale_formation_process("web", 2)
check("scaled", app.process_formation()["web"].quantity, 2)
app.scale_formation_process("web", 1)
check("dyno types", sorted({d.type for d in app.dynos()}), ["web"])
app.restart()

# Domains, in Heroku's default Range order.
app.add_domain("www.h3.test", None)
check("domains", sorted(d.hostname for d in app.domains()), ["h3web.localhost", "www.h3.test"])
app.remove_domain("www.h3.test")

# Maintenance mode, which heroku3 sends as 1/0.
app.enable_maintenance_mode()
check("maintenance on", h.app("h3web").maintenance, True)
app.disable_maintenance_mode()
check("maintenance off", h.app("h3web").maintenance, False)

# Add-ons: a key-value store, under its Heroku name.
addon = app.install_addon("heroku-redis")
check("addon attached", [a.name for a in app.addons()], [addon.name])
check("addon config", "REDIS_URL" in app.config().to_dict(), True)
addon.delete()
check("addon removed", len(app.addons()), 0)

# Log drains (heroku3 removes them by id, with the URL unencoded in the path
# only for `remove_logdrain(url)`, so by id here).
drain = app.create_logdrain("syslog://127.0.0.1:6514")
check("drain token", drain.token.startswith("d."), True)
check("drains", [d.url for d in app.logdrains()], ["syslog://127.0.0.1:6514"])
app.remove_logdrain(drain.id)
check("drains removed", len(app.logdrains()), 0)

# One-offs: detached, then attached through the rendezvous (Kumo's CA trusted).
run = h.app("h3run")
dyno = run.run_command_detached("console detached")
check("detached", dyno.name.startswith("run."), True)


class KumoRendezvous(heroku3.rendezvous.Rendezvous):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cert = ca


heroku3.models.app.Rendezvous = KumoRendezvous
output, dyno = run.run_command("console 'two words'", attach=True, printout=False)
check("attached output", output, "hello from a one-off\ntwo words\n")
print("heroku3 ok")
