# -*- encoding: utf-8 -*-
# stub: json 2.6.1 ruby lib
# stub: ext/json/extconf.rb

Gem::Specification.new do |s|
  s.name = "json".freeze
  s.version = "2.6.1"

  s.required_rubygems_version = Gem::Requirement.new(">= 0".freeze) if s.respond_to? :required_rubygems_version=
  s.require_paths = ["lib".freeze]
  s.authors = ["Florian Frank".freeze]
  s.date = "2022-04-12"
  s.description = "This is a JSON implementation as a Ruby extension in C.".freeze
  s.licenses = ["Ruby".freeze, "BSD-2-Clause".freeze]
  s.summary = "JSON Implementation for Ruby".freeze
end
