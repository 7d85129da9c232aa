require "json"
require "greeter"

# Greets with the GREETING config var and echoes the request.
class GreetingApp
  def call(env)
    case env["PATH_INFO"]
    when "/env.json"
      [200, { "content-type" => "application/json" }, [JSON.generate(ENV.to_h.slice("GREETING", "PORT", "DYNO"))]]
    when "/echo"
      [200, { "content-type" => "text/plain" }, [env["rack.input"].read]]
    else
      greeting = Greeter.greet(ENV.fetch("GREETING", "Hello"))
      [200, { "content-type" => "text/plain" },
       ["#{greeting} from Ruby #{RUBY_VERSION} on Kumo: #{env['REQUEST_METHOD']} #{env['PATH_INFO']}\n"]]
    end
  end
end

# A middleware: `use ServedBy, "kumo"` in config.ru.
class ServedBy
  def initialize(app, name)
    @app = app
    @name = name
  end

  def call(env)
    status, headers, body = @app.call(env)
    [status, headers.merge("x-served-by" => @name), body]
  end
end
