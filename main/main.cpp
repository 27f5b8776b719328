// stratum-guard: parses the command line and hands over to the chosen subcommand. Everything
// else lives in the libraries (policy/, check/, server/, sweeper/).
#include <string>
#include <vector>

#include "common/build_info.h"
#include "main/commands.h"

int main(int argc, char** argv) {
  using namespace stratum_guard;
  CLI::App app{"stratum-guard keeps cryptocurrency miners out of Kubernetes clusters."};
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       std::string(common::Version()) + " (" + std::string(common::Commit()) + ")");
  std::vector<cli::Command> commands = {cli::AddServeCommand(app), cli::AddSweepCommand(app),
                                        cli::AddCheckCommand(app), cli::AddPolicyCommand(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, as `check` documents.
    return app.exit(e) == 0 ? cli::kExitOk : cli::kExitConfig;
  }
  for (const cli::Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return cli::kExitConfig;
}
