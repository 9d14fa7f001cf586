// Probot's peer: a no-op issue_comment.created handler (Probot answers after it).
export default (app) => {
  app.on("issue_comment.created", async () => {});
};
