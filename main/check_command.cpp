#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "check/check.h"
#include "check/manifest_reader.h"
#include "check/report.h"
#include "common/clock.h"
#include "main/commands.h"
#include "main/policy_flag.h"
#include "main/registry_flags.h"
#include "policy/policy.h"
#include "registry/workload_images.h"

namespace stratum_guard::cli {

// `stratum-guard check`: judges manifests offline, for CI and for a look before `kubectl apply`.
// Exit codes (docs/CHECK.md): 0 nothing denied, 1 something denied, 2 usage, policy or parse
// errors.
Command AddCheckCommand(CLI::App& root) {
  struct Options {
    std::string policy_file;
    std::string output = "text";
    std::string default_namespace;
    std::string docs_url =
        "https://github.com/stratum-guard/stratum-guard/blob/main/docs/POLICY.md";
    bool quiet = false;
    std::vector<std::string> paths;
    RegistryConfig registry;
  };
  auto options = std::make_shared<Options>();
  CLI::App* app = root.add_subcommand(
      "check", "Judge Kubernetes manifests offline (files, directories, - for stdin)");
  app->add_option("--policy", options->policy_file, "Policy file replacing the default policy");
  app->add_option("-o,--output", options->output, "Report format: text, json, sarif or junit")
      ->check(CLI::IsMember({"text", "json", "sarif", "junit"}));
  app->add_option("--docs-url", options->docs_url,
                  "SARIF: where the rules are documented; #<rule-id> is appended")
      ->capture_default_str();
  app->add_option("-n,--namespace", options->default_namespace,
                  "Namespace for objects that name none (as kubectl -n would apply them)");
  app->add_flag("-q,--quiet", options->quiet,
                "Text report: list only denied and warned objects, warnings and errors");
  app->add_option("PATH", options->paths, "Manifest files or directories, - for stdin")->required();
  AddRegistryFlags(*app, options->registry);

  auto run = [options]() -> int {
    std::shared_ptr<const policy::Policy> compiled;
    try {
      compiled = LoadPolicyFlag(options->policy_file);
    } catch (const policy::PolicyError& e) {
      std::cerr << e.what() << "\n";
      return kExitConfig;
    } catch (const std::exception& e) {
      std::cerr << "stratum-guard check: " << e.what() << "\n";
      return kExitConfig;
    }
    registry::DockerConfig credentials;
    if (std::string error = FinishRegistryConfig(options->registry, &credentials); !error.empty()) {
      std::cerr << "stratum-guard check: " << error << "\n";
      return kExitConfig;
    }
    check::Evaluator evaluate = check::EvaluatorFor(compiled);
    std::unique_ptr<ImageInspection> images;
    if (options->registry.inspect_images) {
      // Offline there is no API to read a pod's imagePullSecrets from: the local docker config.
      images =
          std::make_unique<ImageInspection>(options->registry, std::move(credentials), nullptr);
      // Offline there is no webhook timeout: each image gets the time of its requests.
      const auto deadline = registry::FetchTimeBound(options->registry.options);
      evaluate = [judge = std::move(evaluate), &images,
                  deadline](const policy::Workload& workload) {
        policy::Workload inspected = workload;
        registry::WorkloadInspection seen = registry::InspectWorkload(
            inspected, images->inspector(), images->credentials(), deadline);
        for (const registry::ContainerInspection& c : seen.containers) {
          if (c.error.empty()) continue;
          // The pod spec is still judged: an image that cannot be read is no evidence.
          std::cerr << "warning: image \"" << c.image << "\" of " << workload.kind << " "
                    << workload.name << " not inspected: " << c.error << "\n";
        }
        return judge(inspected);
      };
    }
    check::ReadResult read = check::ReadManifests(options->paths, std::cin);
    check::Report report = check::Check(read, evaluate, options->default_namespace);
    if (options->output == "json") {
      check::WriteJson(report, std::cout);
    } else if (options->output == "sarif") {
      check::WriteSarif(report, compiled->rules(), options->docs_url, std::cout);
    } else if (options->output == "junit") {
      check::WriteJunit(report, std::cout);
    } else {
      check::WriteText(report, std::cout, std::cerr, {.quiet = options->quiet});
    }
    std::cout.flush();
    return report.ExitCode();
  };
  return {app, run};
}

}  // namespace stratum_guard::cli
