# Kumo's Ruby runtime: what `ruby.wasm` evaluates when the interpreter starts
# (before the Wizer snapshot, so a request does not pay for it).
#
# Each run then calls Kumo.main, whose arguments come from KUMO_ARGV
# (the process's argv joined with 0x1f):
#   ruby.wasm --rack config.ru      serve one CGI request with the Rack app
#   ruby.wasm worker.rb ARGS…       run a script, as `ruby worker.rb ARGS…`
#
# The rack gem is not available (rubygems.org is out of reach), so config.ru
# is read by Kumo::Builder, which understands Rack::Builder's `use`, `run`
# and `map`. Gems vendored under vendor/ are on $LOAD_PATH.

module Kumo
  # The RFC 3875 meta-variables a CGI request brings in the environment; they
  # go into the Rack env and out of ENV, so the app's ENV is its config vars.
  CGI_VARIABLES = %w[
    GATEWAY_INTERFACE SERVER_SOFTWARE SERVER_PROTOCOL SERVER_NAME SERVER_PORT
    REQUEST_METHOD SCRIPT_NAME PATH_INFO QUERY_STRING REQUEST_URI HTTPS
    REMOTE_ADDR REMOTE_HOST CONTENT_TYPE CONTENT_LENGTH PATH_TRANSLATED
    AUTH_TYPE REMOTE_USER REMOTE_IDENT
  ].freeze

  STATUS_REASONS = {
    200 => "OK", 201 => "Created", 204 => "No Content", 301 => "Moved Permanently",
    302 => "Found", 303 => "See Other", 304 => "Not Modified", 400 => "Bad Request",
    401 => "Unauthorized", 403 => "Forbidden", 404 => "Not Found",
    405 => "Method Not Allowed", 422 => "Unprocessable Content",
    500 => "Internal Server Error", 503 => "Service Unavailable"
  }.freeze

  def self.main
    argv = ENV.delete("KUMO_ARGV").to_s.split("\x1f")
    argv.shift # the component
    Dir.chdir("/app") if Dir.exist?("/app")
    load_paths
    if argv.first == "--rack"
      serve(argv[1] || "config.ru")
    elsif argv.first == "--check"
      check(argv.drop(1))
    else
      script(argv)
    end
  end

  # The app's lib/ and every vendored gem's lib/ (vendor/bundle/ruby/*/gems/x/lib,
  # vendor/gems/x/lib, vendor/x/lib), first on the load path.
  def self.load_paths
    libs = Dir.glob("vendor/**/lib").reject { |dir| dir.split("/")[1..-2].include?("lib") }
    libs.sort.reverse_each { |dir| $LOAD_PATH.unshift(File.expand_path(dir)) }
    $LOAD_PATH.unshift(File.expand_path("lib")) if Dir.exist?("lib")
    # Bundler's setup would look for installed gems; the load path is set.
    $LOADED_FEATURES << "bundler/setup.rb"
  end

  # Runs `path` as `ruby path args…` would, exiting with its status.
  def self.script(argv)
    path = argv.shift or abort("usage: ruby SCRIPT [ARGS…]")
    $0 = path
    ARGV.replace(argv)
    status = 0
    begin
      load(path)
    rescue SystemExit => e
      status = e.status
    rescue Exception => e # rubocop:disable Lint/RescueException
      report(e)
      status = 1
    end
    finish(status)
  end

  # Compiles each file without running it, as `ruby -c` does.
  def self.check(paths)
    failed = paths.reject do |path|
      RubyVM::InstructionSequence.compile_file(path)
      true
    rescue SyntaxError => e
      $stderr.puts(e.message)
      false
    end
    finish(failed.empty? ? 0 : 1)
  end

  def self.finish(status)
    $stdout.flush
    $stderr.flush
    exit!(status) unless status.zero?
  end

  # Prints an exception as `ruby` does, without Kumo's own frames.
  def self.report(error)
    trace = (error.backtrace || []).take_while { |line| !line.start_with?("eval:") }
    $stderr.puts("#{trace.first || 'ruby'}: #{error.message} (#{error.class})")
    trace.drop(1).each { |line| $stderr.puts("\tfrom #{line}") }
  end

  # Serves one CGI request with the Rack app of `config`.
  def self.serve(config)
    env = rack_env
    begin
      app = Builder.parse_file(config)
      status, headers, body = app.call(env)
      respond(status, headers, body)
    rescue Exception => e # rubocop:disable Lint/RescueException
      report(e)
      write_head(500, { "content-type" => "text/plain" })
      $stdout.write("Internal Server Error\n")
    end
    $stdout.flush
  end

  def self.rack_env
    env = {}
    ENV.keys.each do |name|
      if name.start_with?("HTTP_") || CGI_VARIABLES.include?(name)
        env[name] = ENV.delete(name)
      end
    end
    env.delete("HTTP_CONTENT_TYPE")
    env.delete("HTTP_CONTENT_LENGTH")
    env["SCRIPT_NAME"] = "" if env["SCRIPT_NAME"] == "/"
    env["SCRIPT_NAME"] ||= ""
    env["PATH_INFO"] = "/" if env["PATH_INFO"].to_s.empty?
    env["QUERY_STRING"] ||= ""
    env["SERVER_NAME"] ||= "localhost"
    env["SERVER_PORT"] ||= ENV.fetch("PORT", "80")
    $stdin.binmode
    input = $stdin.read.to_s
    https = %w[on 1].include?(env["HTTPS"].to_s.downcase) ||
            env["HTTP_X_FORWARDED_PROTO"] == "https"
    env.merge!(
      "rack.version" => [1, 3],
      "rack.url_scheme" => https ? "https" : "http",
      "rack.input" => StringIO.new(input.b),
      "rack.errors" => $stderr,
      "rack.multithread" => false,
      "rack.multiprocess" => true,
      "rack.run_once" => true,
      "rack.hijack?" => false
    )
  end

  def self.respond(status, headers, body)
    write_head(status, headers)
    if body.respond_to?(:each)
      body.each { |chunk| $stdout.write(chunk) }
    elsif body.respond_to?(:call)
      body.call(StreamOut.new)
    end
  ensure
    body.close if body.respond_to?(:close)
  end

  def self.write_head(status, headers)
    $stdout.binmode
    code = status.to_i
    head = +"Status: #{code} #{STATUS_REASONS.fetch(code, 'Status')}\r\n"
    headers.each do |name, value|
      next if name.to_s.downcase == "status"
      values = value.is_a?(Array) ? value : value.to_s.split("\n")
      values.each { |line| head << "#{name}: #{line}\r\n" }
    end
    head << "\r\n"
    $stdout.write(head)
  end

  # A streaming body's stream (Rack 3): writes go straight out.
  class StreamOut
    def write(chunk) = $stdout.write(chunk)
    def <<(chunk) = write(chunk) && self
    def flush = $stdout.flush
    def close; end
    def close_write; end
  end

  # Reads config.ru as Rack::Builder does: `use`, `run`, `map`, `warmup`.
  class Builder
    def self.parse_file(path)
      source = File.read(path)
      builder = new
      builder.instance_eval(source, File.expand_path(path), 1)
      builder.to_app
    end

    def self.app(&block) = new(&block).to_app

    def initialize(&block)
      @middleware = []
      @map = {}
      @run = nil
      instance_eval(&block) if block
    end

    def use(middleware, *args, **options, &block)
      @middleware << ->(app) { middleware.new(app, *args, **options, &block) }
    end

    def run(app = nil, &block)
      @run = app || block
    end

    def map(path, &block)
      @map[path] = block
    end

    def warmup(prc = nil, &block); end

    def to_app
      app = @run
      unless @map.empty?
        mapped = @map.transform_values { |block| Builder.new(&block).to_app }
        app = URLMap.new(mapped, @run)
      end
      raise ArgumentError, "config.ru has no `run`: end it with `run MyApp`" unless app

      @middleware.reverse.inject(app) { |inner, wrap| wrap.call(inner) }
    end

    def call(env) = to_app.call(env)
  end

  # Dispatches on the longest matching `map` prefix, moving it to SCRIPT_NAME.
  class URLMap
    def initialize(map, fallback)
      @map = map.sort_by { |path, _| -path.length }
      @fallback = fallback
    end

    def call(env)
      path = env["PATH_INFO"].to_s
      @map.each do |prefix, app|
        prefix = prefix.chomp("/")
        next unless path == prefix || path.start_with?("#{prefix}/") || prefix.empty?

        rest = path[prefix.length..]
        return app.call(env.merge(
          "SCRIPT_NAME" => env["SCRIPT_NAME"].to_s + prefix,
          "PATH_INFO" => rest.empty? ? "/" : rest
        ))
      end
      return @fallback.call(env) if @fallback

      [404, { "content-type" => "text/plain" }, ["Not Found: #{path}\n"]]
    end
  end
end

require "stringio"
