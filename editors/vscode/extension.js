// Starts `unstuck lsp` for .ust files (the command is the `unstuck.command` setting).
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("unstuck").get("command");
  client = new LanguageClient("unstuck", "unstuck rules", { command, args },
                              { documentSelector: [{ scheme: "file", language: "unstuck" }] });
  client.start();
  context.subscriptions.push(client);
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
