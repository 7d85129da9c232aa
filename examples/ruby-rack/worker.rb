# A worker: `worker: bundle exec ruby worker.rb` in the Procfile.
puts "worker says #{ENV.fetch('GREETING', 'Hello')} with #{ARGV.inspect}"
