# A Rack app on Kumo: deploy with `kumo deploy examples/ruby-rack`, then
# `curl http://<app>.localhost:8080/hello` (set GREETING with `kumo config:set`).
require_relative "app"

use ServedBy, "kumo"
run GreetingApp.new
