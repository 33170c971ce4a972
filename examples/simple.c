/* simple.c — the smallest program on the public API (include/gemrun.h): print the fit plan for a
 * GGUF file, load it, stream one chat answer, then run the same question through the job queue.
 * Builds against the installed library only:
 *   cc simple.c $(pkg-config --cflags --libs gemrun) -o simple && ./simple MODEL.gguf "Hi!" */
#include <gemrun.h>

#include <stdio.h>

static int print_delta(void *user, const char *delta, size_t len) {
    (void)user;
    fwrite(delta, 1, len, stdout);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: simple MODEL.gguf [PROMPT]\n");
        return 2;
    }
    const char *prompt = argc > 2 ? argv[2] : "Say hello in five words.";
    char err[256];
    char *plan = NULL;
    if (gr_plan_json(argv[1], 0, 2048, &plan, err, sizeof err) == GR_OK) {
        printf("plan: %s\n", plan);
        gr_free(plan);
    }
    gr_model *m = NULL;
    if (gr_model_load(argv[1], &m, err, sizeof err) != GR_OK) {
        fprintf(stderr, "load: %s (%s)\n", err, gr_status_str(GR_E_IO));
        return 1;
    }
    gr_generator_params gp = {.model = m, .n_ctx = 2048, .n_threads = 2};
    gr_generator *g = NULL;
    int rc = 1;
    if (gr_generator_new(&gp, &g, err, sizeof err) != GR_OK) {
        fprintf(stderr, "generator: %s\n", err);
        goto out;
    }
    gr_msg msgs[] = {{GR_MSG_USER, prompt}};
    gr_gen_opts o = {.max_tokens = 32, .temperature = 0};
    gr_gen_output res;
    gr_status s = gr_generator_chat(g, msgs, 1, &o, print_delta, NULL, &res);
    printf("\n[%s, %s: %d prompt + %d generated tokens, %.1f tok/s]\n", gr_status_str(s),
           res.finish, res.prompt_tokens, res.completion_tokens, res.gen_tok_s);
    gr_gen_output_clear(&res);
    gr_generator_free(g);

    gr_job_queue *q = NULL;
    if (gr_job_queue_new(&gp, 8, &q, err, sizeof err) != GR_OK) {
        fprintf(stderr, "queue: %s\n", err);
        goto out;
    }
    gr_job *j = NULL;
    if (gr_job_submit(q, msgs, 1, &o, NULL, NULL, &j, err, sizeof err) == GR_OK) {
        gr_job_wait(j);
        const gr_gen_output *jo = gr_job_output(j);
        printf("queued job: %s, %zu bytes of text\n", jo->finish, jo->text_len);
        gr_job_release(j);
    }
    gr_job_queue_free(q);
    rc = 0;
out:
    gr_model_free(m);
    return rc;
}
