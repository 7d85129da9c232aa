# A vendored gem: `gem "greeter", path: "vendor/greeter"` in the Gemfile.
module Greeter
  def self.greet(word) = word.to_s.strip
end
